// PostgreSQL killed or stopped *while* four threads run modify(): every write the store
// acknowledged is there exactly once, no write ran twice, and no write that committed was
// reported as a failure -- only kInDoubt may leave the caller not knowing. The counts are
// printed, since how many writes the fault caught varies from run to run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "../support/test_postgres.h"
#include "snap/store.h"

namespace snap {
namespace {

constexpr int kThreads = 4;

enum class Outcome { kAcknowledged, kInDoubt, kFailed };

struct Attempt {
  int op;
  Outcome outcome;
  std::string error;  // for failures: the code and message
};

std::string code_name(StoreError::Code c) {
  switch (c) {
    case StoreError::Code::kConversion: return "kConversion";
    case StoreError::Code::kInvalidArgument: return "kInvalidArgument";
    case StoreError::Code::kUnavailable: return "kUnavailable";
    case StoreError::Code::kConflict: return "kConflict";
    case StoreError::Code::kAlreadyExists: return "kAlreadyExists";
    case StoreError::Code::kInDoubt: return "kInDoubt";
    case StoreError::Code::kBackend: return "kBackend";
  }
  return "?";
}

class PostgresFaultUnderLoad : public ::testing::TestWithParam<std::string> {};

TEST_P(PostgresFaultUnderLoad, NoAcknowledgedWriteLostNoneRepeatedNoCommittedOneReportedFailed) {
  testing::TestPostgres server;  // private: this test kills it
  PostgresOptions pg;
  pg.connection = server.connection();
  pg.pool_size = kThreads;
  // Long enough to ride out a restart (a few seconds), so most writes during the outage
  // succeed late rather than fail.
  pg.retry.connect_attempts = 60;
  pg.retry.connect_backoff = std::chrono::milliseconds(20);
  pg.retry.max_backoff = std::chrono::milliseconds(200);
  auto store = open_postgres_store(pg, StoreOptions{"fault", {}});

  // Thread t appends its op numbers to the array at key "t<t>", one modify per op.
  std::mutex mu;
  std::condition_variable progress;
  std::vector<int> acknowledged(kThreads, 0);
  std::vector<std::vector<Attempt>> attempts(kThreads);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string key = "t" + std::to_string(t);
      for (int op = 0; !stop.load(); ++op) {
        Attempt a{op, Outcome::kAcknowledged, ""};
        try {
          store->modify(key, [op](const std::optional<json>& current) {
            boost::json::array ops = current ? current->as_array() : boost::json::array{};
            ops.emplace_back(op);
            return json(std::move(ops));
          });
        } catch (const StoreError& e) {
          a.outcome = e.code() == StoreError::Code::kInDoubt ? Outcome::kInDoubt : Outcome::kFailed;
          a.error = code_name(e.code()) + ": " + e.what();
        }
        {
          std::lock_guard lock(mu);
          attempts[t].push_back(a);
          if (a.outcome == Outcome::kAcknowledged) ++acknowledged[t];
        }
        progress.notify_all();
      }
    });
  }
  // Waits until every thread has had `more` further writes acknowledged.
  auto wait_for_progress = [&](int more) {
    std::unique_lock lock(mu);
    const std::vector<int> from = acknowledged;
    progress.wait(lock, [&] {
      for (int t = 0; t < kThreads; ++t) {
        if (acknowledged[t] < from[t] + more) return false;
      }
      return true;
    });
  };

  wait_for_progress(20);
  for (int round = 0; round < 2; ++round) {
    // The writers keep going throughout: the fault lands in the middle of their modifies.
    if (GetParam() == "kill") {
      server.kill_and_restart();
    } else {
      server.restart(GetParam());
    }
    wait_for_progress(20);
  }
  stop = true;
  for (auto& th : threads) th.join();

  int total = 0, acked = 0, in_doubt = 0, in_doubt_committed = 0, failed = 0;
  int lost = 0, duplicates = 0, failed_but_committed = 0;
  std::map<std::string, int> failures;
  for (int t = 0; t < kThreads; ++t) {
    std::map<int, int> seen;
    const auto stored = store->get("t" + std::to_string(t));
    ASSERT_TRUE(stored.has_value());
    for (const auto& v : stored->as_array()) ++seen[static_cast<int>(v.as_int64())];
    for (const Attempt& a : attempts[t]) {
      ++total;
      const int n = seen.count(a.op) ? seen[a.op] : 0;
      if (n > 1) ++duplicates;
      switch (a.outcome) {
        case Outcome::kAcknowledged:
          ++acked;
          if (n == 0) ++lost;
          break;
        case Outcome::kInDoubt:
          ++in_doubt;
          if (n > 0) ++in_doubt_committed;
          break;
        case Outcome::kFailed:
          ++failed;
          ++failures[a.error.substr(0, a.error.find(':'))];
          if (n > 0) {
            ++failed_but_committed;
            ADD_FAILURE() << "op " << a.op << " of thread " << t << " committed but was reported: " << a.error;
          }
          break;
      }
    }
  }
  std::cout << "[ fault: " << GetParam() << " x2 under 4 writers ] writes " << total << ": acknowledged " << acked
            << ", in doubt " << in_doubt << " (" << in_doubt_committed << " of them committed), failed " << failed;
  for (const auto& [code, n] : failures) std::cout << " [" << code << " " << n << "]";
  std::cout << "; lost " << lost << ", duplicates " << duplicates << ", committed but reported failed "
            << failed_but_committed << "\n";
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(failed_but_committed, 0);
  // A lost connection is never "a bug in the caller or the schema".
  EXPECT_EQ(failures.count("kBackend"), 0u);
}

INSTANTIATE_TEST_SUITE_P(Modes, PostgresFaultUnderLoad, ::testing::Values("kill", "immediate", "fast"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace snap
