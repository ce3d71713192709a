// Package translate will hold the key families of the mapping file and the
// translation of Redis commands on family keys into DynamoDB operations and back
// (DESIGN.md §2 and §4). Until it lands, hotswap passes every key through to Redis and
// `hotswap serve` refuses a mapping that declares families.
package translate
