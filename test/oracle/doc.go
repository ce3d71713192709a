// Package oracle holds hotswap's end-to-end consistency tests (issue 4): real
// redis-server and dynalite, several real `hotswap serve` processes built from
// cmd/hotswap, writers doing partial updates through them, and an oracle of the
// acknowledged operations that the final state of both stores must satisfy.
//
//   - kill_test.go: two instances, one of them SIGKILLed mid-load while its journal is
//     non-empty (DynamoDB cut or slowed for it through a TCP relay); the survivor's
//     repairer must drain the journal and leave the stores identical.
//   - stages_test.go: three instances sharing one flag file that moves a family off →
//     dualwrite → shadow → live → rampdown → shadow under 32 writers.
//
// The tests carry the `integration` build tag and need the servers scripts/test.sh
// starts (HOTSWAP_TEST_DYNALITE_ENDPOINT):
//
//	. /tmp/stack.env   # or: eval "$(make -s stack-start)"
//	go test -tags integration -race -count=1 ./test/oracle/
//
// HOTSWAP_ORACLE_SEED replays the writers' random choices. The stage cycle takes
// HOTSWAP_ORACLE_HOLD (how long each stage is held under load once every instance
// serves it; default 6s), HOTSWAP_ORACLE_RATE (operations per second of all writers
// together; default 1000, 0 for as fast as the instances answer) and
// HOTSWAP_ORACLE_STAGES (the stages after off, comma-separated).
package oracle
