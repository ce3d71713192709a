#!/usr/bin/env node
// Starts dynalite's own command line (same flags), with one guard.
//
// dynalite 4.0.0 answers a request's 'error' event by throwing (index.js, httpHandler:
// `req.on('error', function (err) { throw err })`). A client that dies in the middle of
// sending a request body (a hotswap instance killed with SIGKILL under load, a test that
// gives up on a request) aborts the request with ECONNRESET, and that throw ends the
// whole server: every test after it fails with "connection refused". A real DynamoDB
// endpoint drops the one request. So does this launcher: an aborted request is logged
// and the server keeps serving. Nothing else is caught: any other uncaught error still
// ends the process, as it would without the guard.
'use strict'

process.on('uncaughtException', (err) => {
  if (err && err.code === 'ECONNRESET' && err.message === 'aborted') {
    console.error('dynalite: a client aborted a request mid-body; dropped it')
    return
  }
  console.error(err)
  process.exit(1)
})

require('dynalite/cli.js')
