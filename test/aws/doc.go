// Package awssmoke is a smoke test of hotswap against real AWS: a short differential check
// (the same commands to a redis-server and to hotswap serving the families from a real
// DynamoDB table, replies compared byte for byte) and a short load, through DAX too when
// HOTSWAP_AWS_DAX_ENDPOINT is set. It is behind the build tag aws and skips unless
// HOTSWAP_AWS_TABLE or HOTSWAP_AWS_CREATE_TABLE=1 is set and credentials resolve:
//
//	HOTSWAP_AWS_TABLE=registry-smoke AWS_REGION=eu-west-1 go test -tags aws -v ./test/aws/
//
// See the README ("Testing against AWS") for every variable.
package awssmoke
