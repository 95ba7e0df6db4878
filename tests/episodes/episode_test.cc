// Runtime episodes (snap/episode.h): a request handled in one app is recorded with every
// input its handler read; replayed in another app of the same program -- today's binary,
// possibly changed (Variant) -- it answers the same, answers differently (with the
// differences), or diverges at the first input the recording does not hold, with both
// call sites. Also: the recording policies, credentials left out, a store error replayed,
// the file's hostile forms, the directory's size bound and an unwritable directory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include <boost/algorithm/string/case_conv.hpp>
#include <boost/json.hpp>

#include "../format/log_test_util.h"
#include "../support/captured_stderr.h"
#include "episode_app.h"
#include "episode_harness.h"
#include "snap/divergence.h"
#include "snap/env.h"
#include "snap/episode.h"
#include "snap/lifecycle.h"
#include "snap/log_reader.h"
#include "snap/log_writer.h"
#include "snap/metrics.h"

namespace snap::episodetest {
namespace {

using ::testing::HasSubstr;
using Outcome = EpisodeReplay::Outcome;

EpisodeOptions record_all(const std::filesystem::path& dir) {
  EpisodeOptions options;
  options.policy = RecordingPolicy::parse("all");
  options.directory = dir;
  return options;
}

std::vector<std::filesystem::path> written(const std::filesystem::path& dir) {
  if (!std::filesystem::exists(dir)) return {};
  return episode_files(dir, real_env());
}

// The episode of the one request `call` makes to `persona`, recorded with the original
// program (the servers it calls record theirs too).
LoadedEpisode record_one(const testing::TempDir& tmp, ClockEnv& env, const std::function<void(Running&)>& call,
                         const std::string& persona = "episodes.api") {
  const Variant original;
  Running running(env, original, record_all(tmp / "episodes"));
  running.seed("alice", 10);
  call(running);
  std::vector<LoadedEpisode> mine;
  for (const auto& file : written(tmp / "episodes")) {
    LoadedEpisode e = read_episode(file, real_env());
    if (e.info.request.persona == persona) mine.push_back(std::move(e));
  }
  EXPECT_EQ(mine.size(), 1u);
  if (mine.empty()) throw std::runtime_error("no episode of " + persona);
  return mine.front();
}

// Replays `episode` in a fresh app of the program as `variant` changes it.
EpisodeReplay replay_with(ClockEnv& env, const Variant& variant, const LoadedEpisode& episode) {
  Endpoints endpoints;
  // Its startup needs the secret (dev requires one); the replay itself never reads it.
  auto app = start_dev_app("episodes", [&](App& a) { define_episode_app(a, variant, endpoints); }, env,
                           DevOptions{{{"api-key", "not-the-recorded-value"}}});
  return replay_episode(*app, episode);
}

class EpisodeTest : public ::testing::Test {
 protected:
  testing::TempDir tmp_;
  ClockEnv env_;
};

TEST_F(EpisodeTest, AFailedRequestIsWrittenWithItsInputsAndReplaysTheSameError) {
  const LoadedEpisode e = record_one(tmp_, env_, [](Running& r) {
    EXPECT_THROW(r.endpoints().charge(r.caller(), Charge{"alice", 25}), ApiError);
  });
  EXPECT_EQ(e.info.request.method, "POST");
  EXPECT_EQ(e.info.request.route, "/charge");
  EXPECT_EQ(e.info.request.persona, "episodes.api");
  EXPECT_EQ(e.info.response.status, 500);
  EXPECT_THAT(e.info.response.body, HasSubstr("internal"));
  EXPECT_EQ(e.info.trace_id.size(), 32u);
  EXPECT_EQ(e.info.build, "dev");
  // The clock, then the store's read: the inputs in the order the handler read them.
  ASSERT_EQ(e.inputs.size(), 2u);
  EXPECT_EQ(e.inputs[0].kind, "clock.wall");
  EXPECT_EQ(e.inputs[1].kind, "store.get");
  EXPECT_THAT(e.inputs[1].key, ::testing::EndsWith(":alice"));
  EXPECT_THAT(e.inputs[1].file, HasSubstr("episode_app.cc"));

  // Replayed at another time of day (an even second): the recorded clock decides.
  env_.seconds = 1'800'000'002;
  const EpisodeReplay r = replay_with(env_, Variant{}, e);
  EXPECT_EQ(r.outcome, Outcome::kSame) << r.text();
  EXPECT_EQ(r.exit_status(), 0);
  EXPECT_EQ(r.replayed.status, 500);
}

TEST_F(EpisodeTest, AFixedHandlerAnswersDifferentlyAndTheDifferenceIsShown) {
  const LoadedEpisode e = record_one(tmp_, env_, [](Running& r) {
    EXPECT_THROW(r.endpoints().charge(r.caller(), Charge{"alice", 25}), ApiError);
  });
  Variant fixed;
  fixed.fixed = true;
  const EpisodeReplay r = replay_with(env_, fixed, e);
  ASSERT_EQ(r.outcome, Outcome::kResponseDiffers) << r.text();
  EXPECT_EQ(r.exit_status(), 1);
  EXPECT_THAT(r.differences, ::testing::Contains("status: 500 -> 412"));
  EXPECT_THAT(r.differences, ::testing::Contains("$.code: \"internal\" -> \"failed_precondition\""));
  EXPECT_THAT(r.text(), HasSubstr("response differs: POST /charge (episodes.api)"));
  const boost::json::value json = boost::json::parse(r.json());
  EXPECT_EQ(json.at("outcome"), "response_differs");
  EXPECT_EQ(json.at("replayed").at("status"), 412);
}

TEST_F(EpisodeTest, ASuccessfulWriteReplaysItsModify) {
  env_.seconds = 1'800'000'002;
  const LoadedEpisode e = record_one(tmp_, env_, [](Running& r) {
    EXPECT_EQ(r.endpoints().charge(r.caller(), Charge{"alice", 4}).balance, 6);
  });
  ASSERT_EQ(e.inputs.size(), 3u);
  EXPECT_EQ(e.inputs[2].kind, "store.modify");
  const EpisodeReplay r = replay_with(env_, Variant{}, e);
  EXPECT_EQ(r.outcome, Outcome::kSame) << r.text();
  EXPECT_THAT(r.replayed.body, HasSubstr("\"balance\":6"));
}

TEST_F(EpisodeTest, ReadingAnotherKeyDiverges) {
  const LoadedEpisode e = record_one(tmp_, env_, [](Running& r) {
    EXPECT_THROW(r.endpoints().charge(r.caller(), Charge{"alice", 25}), ApiError);
  });
  Variant v;
  v.reads_another_key = true;
  const EpisodeReplay r = replay_with(env_, v, e);
  ASSERT_EQ(r.outcome, Outcome::kDiverged) << r.text();
  EXPECT_EQ(r.exit_status(), 3);
  EXPECT_EQ(r.divergence_reason, "divergence.different_call");
  EXPECT_THAT(r.divergence, HasSubstr("replay diverged at event 2"));
  EXPECT_THAT(r.divergence, HasSubstr(":alice\"  (recorded at"));
  EXPECT_THAT(r.divergence, HasSubstr(":audit-alice\"  (at"));
  EXPECT_THAT(r.divergence, HasSubstr("than the episode recorded"));
  // Both call sites: where it was recorded and where it is asked for now.
  EXPECT_THAT(r.divergence, HasSubstr("recorded at"));
  EXPECT_THAT(r.divergence, HasSubstr("episode_app.cc"));
}

TEST_F(EpisodeTest, ReadingTheClockOnceMoreDiverges) {
  const LoadedEpisode e = record_one(tmp_, env_, [](Running& r) {
    EXPECT_THROW(r.endpoints().charge(r.caller(), Charge{"alice", 25}), ApiError);
  });
  Variant v;
  v.extra_clock_read = true;
  const EpisodeReplay r = replay_with(env_, v, e);
  ASSERT_EQ(r.outcome, Outcome::kDiverged) << r.text();
  EXPECT_THAT(r.divergence, HasSubstr("log expected:   store.get"));
  EXPECT_THAT(r.divergence, HasSubstr("program asked:  clock.wall"));
}

TEST_F(EpisodeTest, OutboundCallsAreRecordedWithTheirResponses) {
  const LoadedEpisode e = record_one(tmp_, env_, [](Running& r) {
    EXPECT_EQ(r.endpoints().quadruple(r.caller(), Number{3}).n, 12);
  });
  // The calls to "other", each with its response; other's own handling is its own episode.
  ASSERT_EQ(e.inputs.size(), 2u);
  EXPECT_EQ(e.inputs[0].kind, "endpoint.call");
  EXPECT_EQ(e.inputs[0].key, "GET /double/{n} (episodes.other)");
  EXPECT_EQ(e.inputs[0].request, "/double/3\n");
  EXPECT_EQ(written(tmp_ / "episodes").size(), 3u);  // quadruple's, and other's two
  const EpisodeReplay r = replay_with(env_, Variant{}, e);
  EXPECT_EQ(r.outcome, Outcome::kSame) << r.text();
}

TEST_F(EpisodeTest, AnExtraOutboundCallDiverges) {
  const LoadedEpisode e = record_one(tmp_, env_, [](Running& r) { r.endpoints().quadruple(r.caller(), Number{3}); });
  Variant v;
  v.extra_call = true;
  const EpisodeReplay r = replay_with(env_, v, e);
  ASSERT_EQ(r.outcome, Outcome::kDiverged) << r.text();
  EXPECT_EQ(r.divergence_reason, "divergence.different_request");
  EXPECT_THAT(r.divergence, HasSubstr("request \"/double/0\\n\""));
}

TEST_F(EpisodeTest, ADifferentOutboundRequestDiverges) {
  const LoadedEpisode e = record_one(tmp_, env_, [](Running& r) { r.endpoints().quadruple(r.caller(), Number{3}); });
  Variant v;
  v.different_request = true;
  const EpisodeReplay r = replay_with(env_, v, e);
  ASSERT_EQ(r.outcome, Outcome::kDiverged) << r.text();
  EXPECT_EQ(r.divergence_reason, "divergence.different_request");
  EXPECT_THAT(r.divergence, HasSubstr("event 1"));
  EXPECT_THAT(r.divergence, HasSubstr("request \"/double/3\\n\""));
  EXPECT_THAT(r.divergence, HasSubstr("request \"/double/4\\n\""));
}

TEST_F(EpisodeTest, AHandlerThatReadsLessLeavesInputsOverAndDiverges) {
  const LoadedEpisode e = record_one(tmp_, env_, [](Running& r) {
    EXPECT_THROW(r.endpoints().charge(r.caller(), Charge{"alice", 25}), ApiError);
  });
  LoadedEpisode extra = e;
  extra.inputs.push_back(extra.inputs.back());  // recorded a read the handler no longer makes
  const EpisodeReplay r = replay_with(env_, Variant{}, extra);
  ASSERT_EQ(r.outcome, Outcome::kDiverged) << r.text();
  EXPECT_EQ(r.divergence_reason, "divergence.events_left_over");
}

TEST_F(EpisodeTest, AStoreReadThatRecordedUnavailableReplaysThatError) {
  const LoadedEpisode e = record_one(tmp_, env_, [](Running& r) {
    EXPECT_THROW(r.endpoints().charge(r.caller(), Charge{"alice", 25}), ApiError);
  });
  // The same request as if the database had been down: its read recorded kUnavailable.
  LoadedEpisode down = e;
  down.inputs[1].bytes =
      R"({"error":{"code":2,"message":"store episodes_accounts: the database at db:5432 is unavailable"}})";
  down.info.response = {503, R"({"code":"unavailable","message":"the database is unavailable; retry later"})"};
  const auto path = tmp_ / "down.episode";
  write_episode(path, down.info, down.inputs, real_env());
  const EpisodeReplay r = replay_with(env_, Variant{}, read_episode(path, real_env()));
  EXPECT_EQ(r.outcome, Outcome::kSame) << r.text();
  EXPECT_EQ(r.replayed.status, 503);
  EXPECT_THAT(r.replayed.body, HasSubstr("unavailable"));
}

TEST_F(EpisodeTest, RandomInputsReplayAsRecorded) {
  const LoadedEpisode e = record_one(tmp_, env_, [](Running& r) { r.endpoints().open_account(r.caller(), Account{5}); });
  ASSERT_EQ(e.inputs.size(), 2u);
  EXPECT_EQ(e.inputs[0].kind, "random.int");
  EXPECT_EQ(e.inputs[1].kind, "store.set");
  EXPECT_THAT(e.inputs[1].request, HasSubstr("\"balance\":5"));
  // Replay never asks the Env for randomness: the recorded id is written again.
  EXPECT_EQ(replay_with(env_, Variant{}, e).outcome, Outcome::kSame);
}

TEST_F(EpisodeTest, TheErrorsPolicyWritesFailedRequestsOnlyAndRingsTheRest) {
  EpisodeOptions options;
  options.policy = RecordingPolicy::parse("errors");
  options.directory = tmp_ / "episodes";
  const Variant original;
  Running running(env_, original, options);
  running.seed("alice", 10);
  env_.seconds = 1'800'000'002;
  running.endpoints().charge(running.caller(), Charge{"alice", 1});
  EXPECT_THROW(running.endpoints().charge(running.caller(), Charge{"bob", 1}), ApiError);  // 404: the caller's
  EXPECT_TRUE(written(tmp_ / "episodes").empty());
  env_.seconds = 1'800'000'003;
  EXPECT_THROW(running.endpoints().charge(running.caller(), Charge{"alice", 100}), ApiError);  // 500
  const auto files = written(tmp_ / "episodes");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(read_episode(files[0], real_env()).info.response.status, 500);
  EXPECT_THAT(files[0].filename().string(), HasSubstr("-episodes-api-"));
  // Every recorded request is in the ring, written or not.
  const auto recent = running.app().episodes()->recent("episodes.api");
  ASSERT_EQ(recent.size(), 3u);
  EXPECT_EQ(recent[0]->info.response.status, 200);
  EXPECT_TRUE(recent[0]->file.empty());
  EXPECT_EQ(recent[2]->file, files[0]);
}

TEST_F(EpisodeTest, TheOffPolicyAndAnEndpointThatOptsOutRecordNothing) {
  EpisodeOptions options;
  options.directory = tmp_ / "episodes";
  const Variant original;
  Running running(env_, original, options);  // off
  EXPECT_EQ(running.app().episodes(), nullptr);
  running.endpoints().quadruple(running.caller(), Number{1});
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "episodes"));
}

TEST_F(EpisodeTest, PoliciesParseAndBadOnesAreNamed) {
  EXPECT_EQ(RecordingPolicy::parse("5%").mode, RecordingPolicy::Mode::kSample);
  EXPECT_EQ(RecordingPolicy::parse("5%").str(), "5%");
  EXPECT_EQ(RecordingPolicy::parse("100%").mode, RecordingPolicy::Mode::kAll);
  EXPECT_EQ(RecordingPolicy::parse("errors").str(), "errors");
  for (const char* bad : {"", "some", "0%", "101%", "5", "-1%", "5%%", "1e9%"}) {
    try {
      RecordingPolicy::parse(bad);
      ADD_FAILURE() << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), HasSubstr("off, errors, all or N%")) << bad;
    }
  }
}

TEST_F(EpisodeTest, TheDirectoryKeepsToItsBoundRemovingTheOldestFirst) {
  EpisodeOptions options = record_all(tmp_ / "episodes");
  options.max_bytes = 3000;
  const Variant original;
  Running running(env_, original, options);
  running.seed("alice", 1000);
  env_.seconds = 1'800'000'002;
  std::vector<std::filesystem::path> first_files;
  for (int i = 0; i < 30; ++i) {
    running.endpoints().charge(running.caller(), Charge{"alice", 1});
    if (i == 0) first_files = written(tmp_ / "episodes");
  }
  std::uint64_t total = 0;
  for (const auto& f : written(tmp_ / "episodes")) total += std::filesystem::file_size(f);
  EXPECT_LE(total, 3000u);
  EXPECT_GT(written(tmp_ / "episodes").size(), 1u);
  ASSERT_EQ(first_files.size(), 1u);
  EXPECT_FALSE(std::filesystem::exists(first_files[0]));
}

TEST_F(EpisodeTest, AnUnwritableDirectoryDropsCountsAndLogsOnceButFailsNoRequest) {
  // A file where the directory should be: nothing can be created in it.
  { std::ofstream(tmp_ / "not-a-dir") << "x"; }
  const Variant original;
  Running running(env_, original, record_all(tmp_ / "not-a-dir" / "episodes"));
  running.seed("alice", 10);
  env_.seconds = 1'800'000'002;
  testing::CapturedStderr err;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(running.endpoints().charge(running.caller(), Charge{"alice", 1}).account, "alice");
  EXPECT_EQ(err.lines("episodes: cannot write to").size(), 1u);
  EXPECT_THAT(running.app().metrics().exposition(), HasSubstr("snap_episodes_total{outcome=\"dropped\"} 3"));
}

TEST_F(EpisodeTest, CredentialsAreLeftOutAndTheAuthenticationsOutcomeReplays) {
  const LoadedEpisode e =
      record_one(tmp_, env_, [](Running& r) { EXPECT_EQ(r.endpoints().whoami(r.caller()), "api-key"); },
                 "episodes.guarded");
  bool has_host = false;
  for (const auto& [name, value] : e.info.request.headers) {
    EXPECT_NE(boost::algorithm::to_lower_copy(name), "authorization");
    has_host = has_host || name == "Host";
  }
  EXPECT_TRUE(has_host);  // the other headers are kept
  ASSERT_EQ(e.inputs.size(), 1u);
  EXPECT_EQ(e.inputs[0].kind, "auth");
  EXPECT_THAT(e.inputs[0].bytes, HasSubstr("\"subject\":\"api-key\""));
  EXPECT_EQ(testing::read_file(e.path).find(kApiKeyValue), std::string::npos);
  // No token is sent on replay: the recorded outcome stands in for the check.
  EXPECT_EQ(replay_with(env_, Variant{}, e).outcome, Outcome::kSame);
}

TEST_F(EpisodeTest, ASecretReadIsAHandleAndReplaysWithTheReplaysOwnValue) {
  const LoadedEpisode e = record_one(
      tmp_, env_, [](Running& r) { EXPECT_EQ(r.endpoints().secret_length(r.caller()).n, 16); }, "episodes.guarded");
  ASSERT_EQ(e.inputs.size(), 2u);
  EXPECT_EQ(e.inputs[1].kind, "secret");
  EXPECT_EQ(e.inputs[1].result_kind, ResultKind::kSecretHandle);
  EXPECT_EQ(e.inputs[1].bytes, "api-key");
  EXPECT_EQ(testing::read_file(e.path).find(kApiKeyValue), std::string::npos);
  // Without the value, the stand-in "snap-replay-stand-in:api-key" (28 bytes).
  const EpisodeReplay r = replay_with(env_, Variant{}, e);
  ASSERT_EQ(r.outcome, Outcome::kResponseDiffers) << r.text();
  EXPECT_THAT(r.differences, ::testing::ElementsAre("$.n: 16 -> 28"));
}

// ---- the file ----

TEST_F(EpisodeTest, ABuildLogIsNotAnEpisodeAndAnEpisodeIsNotABuildLog) {
  const LoadedEpisode e = record_one(tmp_, env_, [](Running& r) { r.endpoints().quadruple(r.caller(), Number{2}); });
  try {
    replay_app("episodes", [](App&) {}, real_env(), ReplayOptions{e.path, Mode::kVerify, nullptr});
    ADD_FAILURE();
  } catch (const LogError& err) {
    EXPECT_EQ(err.code(), LogErrorCode::kNotASnapshotLog);
    EXPECT_THAT(err.what(), HasSubstr("an episode (one recorded request), not a build's log"));
  }
  // A log of another kind (a startup log written by hand here) is refused as an episode.
  const auto log = tmp_ / "startup.snaplog";
  auto writer = LogWriter::create(log, LogHeader{0, 0, "episodes", "fp", "w", ""});
  writer->finish(Manifest{});
  try {
    read_episode(log, real_env());
    ADD_FAILURE();
  } catch (const LogError& err) {
    EXPECT_EQ(err.code(), LogErrorCode::kNotASnapshotLog);
    EXPECT_THAT(err.what(), HasSubstr("a build's log, not an episode"));
  }
}

TEST_F(EpisodeTest, ATruncatedEpisodeIsRefusedAsTruncated) {
  const LoadedEpisode e = record_one(tmp_, env_, [](Running& r) { r.endpoints().quadruple(r.caller(), Number{2}); });
  std::string bytes = testing::read_file(e.path);
  const auto cut = tmp_ / "cut.episode";
  { std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() - 7); }
  try {
    read_episode(cut, real_env());
    ADD_FAILURE();
  } catch (const LogError& err) {
    EXPECT_EQ(err.code(), LogErrorCode::kTruncated) << err.what();
    EXPECT_EQ(exit_status(err), kExitLogError);
  }
}

TEST_F(EpisodeTest, AWellFormedLogWhoseEventsAreNoEpisodeIsCorrupt) {
  const auto path = tmp_ / "odd.episode";
  auto writer = LogWriter::create(path, LogHeader{0, 0, "episodes", "fp", "w", std::string(kEpisodeLogKind)});
  EventRecord e;
  e.kind = "clock.wall";
  writer->append(e);
  writer->finish(Manifest{});
  try {
    read_episode(path, real_env());
    ADD_FAILURE();
  } catch (const LogError& err) {
    EXPECT_EQ(err.code(), LogErrorCode::kCorrupt);
    EXPECT_THAT(err.what(), HasSubstr("not a well-formed episode"));
  }
}

TEST_F(EpisodeTest, ADamagedStoreReplyIsCorruptNotACrash) {
  const LoadedEpisode e = record_one(tmp_, env_, [](Running& r) {
    EXPECT_THROW(r.endpoints().charge(r.caller(), Charge{"alice", 25}), ApiError);
  });
  for (const char* reply : {"", "[]", R"({"error":{"code":99,"message":"x"}})", R"({"error":7})", "{\"ok\":"}) {
    LoadedEpisode bad = e;
    bad.inputs[1].bytes = reply;
    EXPECT_THROW(replay_with(env_, Variant{}, bad), LogError) << reply;
  }
}

TEST(JsonDifferences, NamePathsAddedRemovedAndChanged) {
  EXPECT_THAT(json_differences(R"({"a":1,"b":[1,2],"c":{"d":"x"}})", R"({"a":2,"b":[1],"c":{"d":"x","e":true}})"),
              ::testing::ElementsAre("$.a: 1 -> 2", "$.b[1]: 2 -> (absent)", "$.c.e: (absent) -> true"));
  EXPECT_TRUE(json_differences(R"({"a":1,"b":2})", R"({"b":2,"a":1})").empty());
  EXPECT_THAT(json_differences("not json", "other"), ::testing::ElementsAre(HasSubstr("body:")));
}

}  // namespace
}  // namespace snap::episodetest
