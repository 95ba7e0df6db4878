// Which PostgreSQL failures the store retries, and how: one decision, in one place,
// tested on its own (tests/store/postgres_retry_test.cc) because the failures it handles
// -- a connection lost during COMMIT, say -- cannot be produced on demand.
#pragma once

#include <exception>
#include <string>

namespace snap::store_detail {

// What a piece of work was doing, which decides what a lost connection means.
enum class Work {
  kRead,             // nothing written: always safe to run again
  kTransaction,      // BEGIN ... COMMIT: lost before COMMIT means rolled back; during COMMIT
                     // libpqxx throws in_doubt_error
  kAutocommitWrite,  // one statement that commits by itself: lost while it runs means it
                     // may or may not have committed
};

enum class Verdict {
  kReconnect,  // the connection is gone and nothing happened: run again on a new connection
  kConflict,   // serialization failure, deadlock, racing insert: rolled back, run again
  kInDoubt,    // it may have committed: never run again (StoreError::Code::kInDoubt)
  kBackend,    // PostgreSQL refused the statement: a bug or schema problem (kBackend)
  kNotOurs,    // not a database error (StoreError from an indexer, the caller's function):
               // pass it on unchanged
};

// A pqxx::sql_error without a SQLSTATE did not come from the server but from libpq losing
// the connection (libpqxx 6.4 raises it instead of broken_connection): treated as a lost
// connection, and as kInDoubt when the statement was COMMIT.
Verdict classify(const std::exception& e, Work work);

// The libpq connection string `connection` with only where it points (host, hostaddr,
// port, dbname, user), for error messages: never a password, whatever the string's form
// (key=value or URI).
std::string describe_target(const std::string& connection);

}  // namespace snap::store_detail
