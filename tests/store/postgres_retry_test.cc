// The PostgreSQL backend's retry decisions, for failures a live server cannot be made to
// produce on demand: above all, a write whose commit outcome is unknown is never retried.
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <stdexcept>

#include "../../components/store/src/postgres_retry.h"
#include "snap/store.h"

namespace snap::store_detail {
namespace {

constexpr Work kAll[] = {Work::kRead, Work::kTransaction, Work::kAutocommitWrite};

TEST(PostgresRetry, UnknownCommitOutcomeIsNeverRetried) {
  for (Work w : kAll) {
    EXPECT_EQ(classify(pqxx::in_doubt_error("connection lost during COMMIT"), w), Verdict::kInDoubt);
    EXPECT_EQ(classify(pqxx::statement_completion_unknown("40003"), w), Verdict::kInDoubt);
  }
}

TEST(PostgresRetry, ConflictsAreRetried) {
  for (Work w : kAll) {
    EXPECT_EQ(classify(pqxx::serialization_failure("40001"), w), Verdict::kConflict);
    EXPECT_EQ(classify(pqxx::deadlock_detected("40P01"), w), Verdict::kConflict);
    EXPECT_EQ(classify(pqxx::unique_violation("duplicate key", "INSERT", "23505"), w), Verdict::kConflict);
  }
}

TEST(PostgresRetry, LostConnectionIsRetriedUnlessAnAutocommitWriteMayHaveLanded) {
  const pqxx::broken_connection lost("server closed the connection unexpectedly");
  EXPECT_EQ(classify(lost, Work::kRead), Verdict::kReconnect);
  EXPECT_EQ(classify(lost, Work::kTransaction), Verdict::kReconnect);  // before COMMIT: rolled back
  EXPECT_EQ(classify(lost, Work::kAutocommitWrite), Verdict::kInDoubt);
  // An error reply says the statement failed, so reconnecting is safe even for a write.
  const pqxx::sql_error shutdown("terminating connection due to administrator command", "INSERT", "57P01");
  EXPECT_EQ(classify(shutdown, Work::kAutocommitWrite), Verdict::kReconnect);
}

// libpqxx 6.4 reports a connection lost mid-statement as a plain sql_error carrying libpq's
// message and no SQLSTATE. That is not "a bug" (kBackend): the connection is gone.
TEST(PostgresRetry, SqlErrorWithoutSqlstateIsALostConnection) {
  const std::string message = "server closed the connection unexpectedly\n\tThis probably means the server "
                              "terminated abnormally\n\tbefore or while processing the request.\n";
  // During COMMIT it may have committed: in doubt, never retried.
  EXPECT_EQ(classify(pqxx::sql_error(message, "COMMIT", ""), Work::kTransaction), Verdict::kInDoubt);
  EXPECT_EQ(classify(pqxx::sql_error(message, "commit", ""), Work::kTransaction), Verdict::kInDoubt);
  EXPECT_EQ(classify(pqxx::sql_error(message, "  END;", ""), Work::kTransaction), Verdict::kInDoubt);
  EXPECT_EQ(classify(pqxx::sql_error(message), Work::kAutocommitWrite), Verdict::kInDoubt);
  // Elsewhere nothing committed: a new connection, and kUnavailable once retries run out.
  EXPECT_EQ(classify(pqxx::sql_error(message, "SELECT value::text FROM t WHERE key = $1 FOR UPDATE", ""),
                     Work::kTransaction),
            Verdict::kReconnect);
  EXPECT_EQ(classify(pqxx::sql_error(message, "COMMITTED_READS", ""), Work::kTransaction), Verdict::kReconnect);
  EXPECT_EQ(classify(pqxx::sql_error(message, "SELECT 1", ""), Work::kRead), Verdict::kReconnect);
  EXPECT_EQ(classify(pqxx::sql_error("no connection to the server\n"), Work::kRead), Verdict::kReconnect);
  // A server error on COMMIT (it has a SQLSTATE) is still the server's answer.
  EXPECT_EQ(classify(pqxx::sql_error("deferred constraint", "COMMIT", "23503"), Work::kTransaction), Verdict::kBackend);
}

TEST(PostgresRetry, OtherErrorsAreNotRetried) {
  EXPECT_EQ(classify(pqxx::sql_error("relation does not exist", "SELECT", "42P01"), Work::kRead), Verdict::kBackend);
  EXPECT_EQ(classify(pqxx::usage_error("misuse"), Work::kRead), Verdict::kBackend);
  EXPECT_EQ(classify(StoreError(StoreError::Code::kInvalidArgument, "bad index key"), Work::kTransaction),
            Verdict::kNotOurs);
  EXPECT_EQ(classify(std::runtime_error("the caller's modify function threw"), Work::kTransaction), Verdict::kNotOurs);
}

TEST(PostgresRetry, TargetNamesTheServerNeverThePassword) {
  EXPECT_EQ(describe_target("host=/tmp/pg port=5433 dbname=app user=app password=hunter2 connect_timeout=3"),
            "host=/tmp/pg port=5433 dbname=app user=app");
  EXPECT_EQ(describe_target("postgresql://app:hunter2@db.internal:6543/orders"),
            "host=db.internal port=6543 dbname=orders user=app");
  EXPECT_EQ(describe_target("password='a b c'"), "libpq defaults");
  EXPECT_EQ(describe_target("host='unterminated"), "an unparsable connection string");
}

}  // namespace
}  // namespace snap::store_detail
