// The samples of runtime episodes -- snap/api_server.h's redaction, snap/regression.h's
// traffic regression test (checked by check_header_samples.py) and docs/episodes.md's --
// verbatim inside a small "shop" program: recorded in dev, replayed against its build.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "../format/log_test_util.h"
#include "snap/api_server.h"
#include "snap/app.h"
#include "snap/episode.h"
#include "snap/key_value_store.h"
#include "snap/lifecycle.h"
#include "snap/persona.h"
#include "snap/regression.h"

namespace {

using ::testing::HasSubstr;

struct Customer {
  std::string id;
  std::string name;
};
BOOST_DESCRIBE_STRUCT(Customer, (), (id, name))

// ---- docs/episodes.md, "Privacy" and components/api/include/snap/api_server.h ----
void define_shop(snap::App& app) {
  auto& customers = app.add<snap::KeyValueStore>("customers");
  auto& server = app.add<snap::ApiServer>("api");
  server.uses(customers);
  const auto handler = [&customers](snap::PersonaContext& ctx, const Customer& c) {
    customers.open<Customer>(ctx).set(c.id, c);
  };
  const snap::Endpoint<Customer, void> post =
  server.endpoint<Customer, void>("POST", "/api/customer", handler,
      snap::EndpointOptions{.redact_request = snap::redact<Customer>([](Customer& c) { c.name = "(redacted)"; })});
  auto get = server.endpoint<Customer, Customer>("GET", "/api/customer/{id}",
                                                 [&customers](snap::PersonaContext& ctx, const Customer& c) {
                                                   return customers.open<Customer>(ctx).get(c.id).value_or(Customer{});
                                                 });
  app.add<snap::Persona>("client", snap::PersonaKind::kCommand, [post, get](snap::PersonaContext& ctx) {
       post(ctx, Customer{"1", "Jane Roe"});
       return get(ctx, Customer{"1", ""}).name == "Jane Roe" ? 0 : 1;
     }).uses(server);
}

// Runs the server while the client persona posts one customer, recording into `dir`.
void record_traffic(const std::filesystem::path& dir) {
  auto app = snap::start_dev_app("shop", define_shop, snap::real_env(), {});
  snap::EpisodeOptions options;
  options.policy = snap::RecordingPolicy::parse("all");
  options.directory = dir;
  snap::start_episodes(*app, options);
  snap::PersonaContext server(*app, *app->find_persona("api"), {});
  std::thread serving([&] { server.persona().run(server); });
  snap::PersonaContext client(*app, *app->find_persona("client"), {});
  EXPECT_EQ(client.persona().run(client), 0);
  snap::stop_persona(server);
  serving.join();
}

TEST(episode_samples, ARedactedRequestIsKeptRedactedAndTrafficReplaysAsARegressionTest) {
  snap::testing::TempDir work;
  std::filesystem::create_directories(work / "tests");
  snap::build_app("shop", define_shop, snap::real_env(), snap::BuildOptions{work / "build"});
  std::filesystem::copy_file(work / "build" / "snapshot.snaplog", work / "tests" / "shop.snaplog");
  record_traffic(work / "tests" / "episodes");
  const auto files = snap::episode_files(work / "tests" / "episodes", snap::real_env());
  ASSERT_EQ(files.size(), 2u);
  const snap::LoadedEpisode posted = snap::read_episode(files[0], snap::real_env());
  ASSERT_EQ(posted.info.request.method, "POST");
  EXPECT_EQ(posted.info.request.body, R"j({"id":"1","name":"(redacted)"})j");
  // What the handler wrote is an input as it was (docs/episodes.md: store values are not
  // redacted), so replaying the redacted request diverges at that write.
  ASSERT_EQ(posted.inputs.size(), 1u);
  EXPECT_THAT(posted.inputs[0].request, HasSubstr("Jane Roe"));
  {
    auto app = snap::start_dev_app("shop", define_shop, snap::real_env(), {});
    const snap::EpisodeReplay replay = snap::replay_episode(*app, posted);
    EXPECT_EQ(replay.outcome, snap::EpisodeReplay::Outcome::kDiverged);
    EXPECT_EQ(replay.divergence_reason, "divergence.different_request");
  }
  std::filesystem::remove(files[0]);

  // ---- program/include/snap/regression.h and docs/episodes.md ----
  const std::filesystem::path before = std::filesystem::current_path();
  std::filesystem::current_path(work.path());
  const snap::EpisodeRun run = snap::replay_episodes("tests/episodes", "shop", define_shop, "tests/shop.snaplog");
  EXPECT_EQ(run.exit_status(), 0) << run;  // every episode that did not answer the same
  std::filesystem::current_path(before);
  ASSERT_EQ(run.replays.size(), 1u);
  // The store write is the redacted customer: replay runs the handler on what was kept.
  EXPECT_EQ(run.replays[0].outcome, snap::EpisodeReplay::Outcome::kSame);
}

}  // namespace
