// The episodes checked in as fuzz seeds (tests/fuzz/corpus-episodes): a recorded one reads
// back, and each crafted one (crafted-*.episode) is refused for its own reason -- so the
// seeds reach the checks they were made for. SNAP_WRITE_FUZZ_SEEDS=1 writes them again
// (after a format change).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "../format/log_test_util.h"
#include "snap/episode.h"
#include "snap/log_writer.h"

namespace snap::episodetest {
namespace {

using ::testing::HasSubstr;

const std::filesystem::path kSeeds = SNAP_FUZZ_DIR "/corpus-episodes";

// A small valid episode: a request, a clock read and a store read, a 500.
EpisodeInfo sample_info() {
  EpisodeInfo info;
  info.app = "episodes";
  info.build = "0123456789ab";
  info.request = {"episodes.api", "POST", "/charge", "/charge", R"({"account":"alice","amount":25})",
                  {{"Host", "listen.episodes-api"}, {"Content-Type", "application/json"}}};
  info.response = {500, R"j({"code":"internal","message":"internal error (details are in the server's log)"})j"};
  info.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  info.started_unix_ns = 1'800'000'001'000'000'000;
  info.duration_ns = 1'250'000;
  return info;
}

std::vector<OwnedEvent> sample_inputs() {
  OwnedEvent clock;
  clock.kind = "clock.wall";
  clock.result_kind = ResultKind::kInteger;
  clock.integer = 1'800'000'001'000'000'000;
  clock.file = "episode_app.cc";
  clock.line = 20;
  OwnedEvent get;
  get.kind = "store.get";
  get.key = "episodes_accounts_d962df83:alice";
  get.result_kind = ResultKind::kBytes;
  get.bytes = R"({"ok":{"balance":10}})";
  get.file = "episode_app.cc";
  get.line = 24;
  return {clock, get};
}

// A log of the episode kind holding `events` as they are (no framing added).
void write_raw(const std::filesystem::path& path, const std::vector<OwnedEvent>& events, std::string kind) {
  auto writer = LogWriter::create(path, LogHeader{0, 0, "episodes", "0123456789ab", "w", std::move(kind)},
                                  LogWriterOptions{3, 8192, 1 << 20, false});
  for (const OwnedEvent& e : events) writer->append(e.view());
  writer->finish(Manifest{});
}

OwnedEvent framing(std::string kind, std::string bytes) {
  OwnedEvent e;
  e.kind = std::move(kind);
  e.key = "POST /charge";
  e.result_kind = ResultKind::kBytes;
  e.bytes = std::move(bytes);
  return e;
}

// Each crafted seed, how to write it, and what reading it must say.
struct Crafted {
  std::string name;
  std::function<void(const std::filesystem::path&)> write;
  LogErrorCode code;
  std::string message;
};

std::vector<Crafted> crafted() {
  const auto valid_request = R"({"app":"episodes","build":"b","persona":"p","target":"/charge","body":"{}",)"
                             R"("headers":[],"trace_id":"t","started_unix_ns":1})";
  const auto valid_response = R"({"status":200,"body":"{}","duration_ns":1})";
  return {
      {"crafted-truncated.episode",
       [](const std::filesystem::path& p) {
         write_episode(p, sample_info(), sample_inputs(), real_env());
         const std::string bytes = testing::read_file(p);
         std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() - 9);
       },
       LogErrorCode::kTruncated, "truncated"},
      {"crafted-build-log.episode", [](const std::filesystem::path& p) { write_raw(p, sample_inputs(), ""); },
       LogErrorCode::kNotASnapshotLog, "a build's log, not an episode"},
      {"crafted-no-response.episode",
       [=](const std::filesystem::path& p) { write_raw(p, {framing("episode.request", valid_request)}, "episode"); },
       LogErrorCode::kCorrupt, "do not start with the request and end with the response"},
      {"crafted-request-types.episode",
       [=](const std::filesystem::path& p) {
         write_raw(p,
                   {framing("episode.request", R"({"app":1,"build":[],"persona":{},"headers":"x"})"),
                    framing("episode.response", valid_response)},
                   "episode");
       },
       LogErrorCode::kCorrupt, "\"app\" is not a string"},
      {"crafted-bad-headers.episode",
       [=](const std::filesystem::path& p) {
         std::string request = valid_request;
         request.replace(request.find("\"headers\":[]"), 12, R"("headers":[["a"],[1,2]])");
         write_raw(p, {framing("episode.request", request), framing("episode.response", valid_response)}, "episode");
       },
       LogErrorCode::kCorrupt, "a header is not a [name, value] pair"},
      {"crafted-status.episode",
       [=](const std::filesystem::path& p) {
         write_raw(p,
                   {framing("episode.request", valid_request),
                    framing("episode.response", R"({"status":99999999999,"body":"","duration_ns":0})")},
                   "episode");
       },
       LogErrorCode::kCorrupt, "not an HTTP status"},
      {"crafted-not-json.episode",
       [=](const std::filesystem::path& p) {
         write_raw(p, {framing("episode.request", "{\"app\":"), framing("episode.response", valid_response)}, "episode");
       },
       LogErrorCode::kCorrupt, "the request is not JSON"},
  };
}

bool writing() {
  const char* w = std::getenv("SNAP_WRITE_FUZZ_SEEDS");
  return w != nullptr && std::string(w) == "1";
}

TEST(EpisodeSeeds, TheRecordedSeedReadsBack) {
  const auto path = kSeeds / "recorded-500.episode";
  if (writing()) {
    std::filesystem::create_directories(kSeeds);
    write_episode(path, sample_info(), sample_inputs(), real_env());
  }
  const LoadedEpisode e = read_episode(path, real_env());
  EXPECT_EQ(e.info.response.status, 500);
  EXPECT_EQ(e.info.request.route, "/charge");
  ASSERT_EQ(e.inputs.size(), 2u);
  EXPECT_EQ(e.inputs[1].bytes, R"({"ok":{"balance":10}})");
  EXPECT_EQ(summarize(e).time, "2027-01-15T08:00:01.000Z");
}

TEST(EpisodeSeeds, EachCraftedSeedIsRefusedForItsOwnReason) {
  for (const Crafted& c : crafted()) {
    const auto path = kSeeds / c.name;
    if (writing()) c.write(path);
    try {
      read_episode(path, real_env());
      ADD_FAILURE() << c.name << " was read";
    } catch (const LogError& e) {
      EXPECT_EQ(e.code(), c.code) << c.name << ": " << e.what();
      EXPECT_THAT(e.what(), HasSubstr(c.message)) << c.name;
    }
  }
}

}  // namespace
}  // namespace snap::episodetest
