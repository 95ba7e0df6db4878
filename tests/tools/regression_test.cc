// The replay regression kit (snap/regression.h): a directory of build logs -- one the
// current program replays, two it no longer does -- reports both divergences with every
// field, and divergence_json() carries the same fields for a verify command.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>

#include "../format/log_test_util.h"
#include "../support/fake_system.h"
#include "snap/app.h"
#include "snap/divergence.h"
#include "snap/membrane.h"
#include "snap/port.h"
#include "snap/regression.h"

namespace snap {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;

// Today's program: reads REGION, then a random shard in 1..6.
void define_today(App& app) {
  app.add<Port>("api-port");
  app.membrane().env("REGION");
  app.membrane().random_int(1, 6);
}

// Yesterday's programs, whose logs are the golden files. The first read a FEATURE flag
// before REGION (today's program asks for REGION where the log holds FEATURE); the
// second drew the shard from 1..10 (same call, different request).
void define_with_feature_flag(App& app) {
  app.add<Port>("api-port");
  app.membrane().env("FEATURE");
  app.membrane().env("REGION");
  app.membrane().random_int(1, 6);
}
void define_with_ten_shards(App& app) {
  app.add<Port>("api-port");
  app.membrane().env("REGION");
  app.membrane().random_int(1, 10);
}

class RegressionKit : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(logs_.path() / "logs");
    record("a-good", define_today);
    record("b-feature-flag", define_with_feature_flag);
    record("c-ten-shards", define_with_ten_shards);
    std::ofstream(logs_ / "logs/README") << "not a log: ignored";
  }

  void record(const std::string& name, const DefineApp& define) {
    const std::filesystem::path out = logs_ / ("build-" + name);
    build_app("shop", define, system_, BuildOptions{out, {}});
    std::filesystem::copy_file(out / "snapshot.snaplog", logs_ / ("logs/" + name + ".snaplog"));
  }

  testing::TempDir logs_;
  testing::FakeSystem system_;
};

TEST_F(RegressionKit, ReportsEveryDivergingLogWithAllFields) {
  const RegressionReport report = replay_logs(logs_ / "logs", "shop", define_today, system_);
  EXPECT_FALSE(report);
  ASSERT_EQ(report.replayed.size(), 3u);
  ASSERT_EQ(report.failures.size(), 2u) << report;

  const ReplayFailure& flag = report.failures[0];
  EXPECT_EQ(flag.log, logs_ / "logs/b-feature-flag.snaplog");
  EXPECT_EQ(flag.type, "divergence");
  EXPECT_EQ(flag.reason, "different_call");
  ASSERT_TRUE(flag.expected && flag.actual);
  EXPECT_EQ(flag.expected->kind, "env");
  EXPECT_EQ(flag.expected->key, "FEATURE");
  EXPECT_EQ(flag.actual->kind, "env");
  EXPECT_EQ(flag.actual->key, "REGION");
  // Both call sites: yesterday's from the log, today's from the program.
  EXPECT_THAT(flag.expected->file, EndsWith("regression_test.cc"));
  EXPECT_THAT(flag.actual->file, EndsWith("regression_test.cc"));
  EXPECT_NE(flag.expected->line, flag.actual->line);
  EXPECT_THAT(flag.expected->function, HasSubstr("define_with_feature_flag"));
  EXPECT_THAT(flag.actual->function, HasSubstr("define_today"));
  ASSERT_TRUE(flag.event_index);

  const ReplayFailure& shards = report.failures[1];
  EXPECT_EQ(shards.log, logs_ / "logs/c-ten-shards.snaplog");
  EXPECT_EQ(shards.type, "divergence");
  EXPECT_EQ(shards.reason, "different_request");
  ASSERT_TRUE(shards.expected && shards.actual);
  EXPECT_EQ(shards.expected->kind, "random.int");
  EXPECT_EQ(shards.expected->request, "1..10");
  EXPECT_EQ(shards.actual->request, "1..6");
  // The shard read comes right after REGION in both logs: one event later than FEATURE was.
  ASSERT_TRUE(shards.event_index);
  EXPECT_EQ(*shards.event_index, *flag.event_index + 1);

  const std::string text = report.describe();
  EXPECT_THAT(text, HasSubstr("3 log(s) replayed, 2 failed\n"));
  EXPECT_THAT(text, HasSubstr("b-feature-flag.snaplog: divergence (different_call) at event #"));
  EXPECT_THAT(text, HasSubstr("  expected: env key=\"FEATURE\" at "));
  EXPECT_THAT(text, HasSubstr("  actual:   random.int key=\"\" request=\"1..6\" at "));
}

TEST_F(RegressionKit, AllGoodIsTrue) {
  std::filesystem::remove(logs_ / "logs/b-feature-flag.snaplog");
  std::filesystem::remove(logs_ / "logs/c-ten-shards.snaplog");
  const RegressionReport report = replay_logs(logs_ / "logs", "shop", define_today, system_);
  EXPECT_TRUE(report) << report;
  EXPECT_EQ(report.replayed.size(), 1u);
}

TEST_F(RegressionKit, AChangedComponentTreeIsAManifestMismatch) {
  const RegressionReport report = replay_logs(logs_ / "logs", "shop",
                                              [](App& app) {
                                                app.add<Port>("api-port");
                                                app.add<Port>("admin-port");
                                                app.membrane().env("REGION");
                                                app.membrane().random_int(1, 6);
                                              },
                                              system_);
  ASSERT_EQ(report.failures.size(), 3u) << report;
  EXPECT_EQ(report.failures[0].type, "manifest_mismatch");
  EXPECT_EQ(report.failures[0].added, std::vector<std::string>{"shop.admin-port"});
}

TEST_F(RegressionKit, AMissingDirectoryAndADamagedLogAreLogErrors) {
  const RegressionReport missing = replay_logs(logs_ / "nowhere", "shop", define_today, system_);
  ASSERT_EQ(missing.failures.size(), 1u);
  EXPECT_EQ(missing.failures[0].type, "log_error");
  EXPECT_EQ(missing.failures[0].reason, "not_found");

  std::ofstream(logs_ / "logs/d-damaged.snaplog") << "not a snapshot log";
  const RegressionReport report = replay_logs(logs_ / "logs", "shop", define_today, system_);
  ASSERT_EQ(report.failures.size(), 3u);
  EXPECT_EQ(report.failures[2].type, "log_error");
  EXPECT_EQ(report.failures[2].reason, "not_a_snapshot_log");
}

TEST(DivergenceJson, HasTheDocumentedFields) {
  const Divergence d(Divergence::Reason::kDifferentRequest, 7,
                     Divergence::Call{"random.int", "", "1..10", "old.cc", 12, "define_old"},
                     Divergence::Call{"random.int", "", "1..6", "new.cc", 30, "define_new"});
  const boost::json::value v = boost::json::parse(divergence_json(d));
  EXPECT_EQ(v.at("type"), "divergence");
  EXPECT_EQ(v.at("reason"), "different_request");
  EXPECT_EQ(v.at("event_index"), 7);
  EXPECT_EQ(v.at("expected").at("request"), "1..10");
  EXPECT_EQ(v.at("expected").at("file"), "old.cc");
  EXPECT_EQ(v.at("expected").at("line"), 12);
  EXPECT_EQ(v.at("actual").at("request"), "1..6");
  EXPECT_EQ(v.at("actual").at("function"), "define_new");
  EXPECT_EQ(v.at("exit_status"), kExitDivergence);
  EXPECT_TRUE(v.at("added").as_array().empty());
  EXPECT_EQ(v.at("message"), d.what());

  const boost::json::value log = boost::json::parse(divergence_json(LogError(LogErrorCode::kCorrupt, "x: bad")));
  EXPECT_EQ(log.at("type"), "log_error");
  EXPECT_EQ(log.at("reason"), "corrupt");
  EXPECT_EQ(log.at("event_index"), nullptr);
  EXPECT_EQ(log.at("expected"), nullptr);
  EXPECT_EQ(log.at("exit_status"), kExitLogError);
}

}  // namespace
}  // namespace snap
