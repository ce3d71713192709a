// Package storetest holds test doubles and helpers for code that talks to DynamoDB
// through translate.Store:
//
//   - CountingStore counts the calls per operation (to prove, say, that a single-key
//     command costs one DynamoDB call);
//   - StaleStore serves eventually consistent reads from an old snapshot (to prove
//     that `strong` families never read stale data);
//   - MustDynalite, MustMoto, MustClient and MustTable give a test the local servers
//     and a table of its own, deleted when the test ends.
//
// It does not import hotswap/translate (nor translate/dynamo, which does), so that
// tests inside package translate can use it without an import cycle: Store repeats
// translate.Store's method set, and the two interfaces are interchangeable.
package storetest
