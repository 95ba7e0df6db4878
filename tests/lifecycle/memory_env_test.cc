// The whole lifecycle on snap::MemoryEnv: build, verify and a persona's run, with no file
// on disk (the test's TMPDIR and build path stay empty).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "../../program/src/architecture_emitter.h"
#include "../format/log_test_util.h"
#include "snap/app.h"
#include "snap/api_server.h"
#include "snap/job.h"
#include "snap/lifecycle.h"
#include "snap/memory_env.h"
#include "snap/membrane.h"
#include "snap/password.h"
#include "snap/persona.h"
#include "snap/secrets.h"

namespace snap {
namespace {

using ::testing::Contains;

// Sets $TMPDIR for the test's lifetime, so that anything reaching for a temporary file
// lands in the directory the test watches.
class ScopedTmpdir {
 public:
  explicit ScopedTmpdir(const std::filesystem::path& dir) {
    if (const char* old = std::getenv("TMPDIR")) old_ = old;
    ::setenv("TMPDIR", dir.c_str(), 1);
  }
  ~ScopedTmpdir() {
    if (old_) {
      ::setenv("TMPDIR", old_->c_str(), 1);
    } else {
      ::unsetenv("TMPDIR");
    }
  }

 private:
  std::optional<std::string> old_;
};

TEST(MemoryEnvLifecycle, BuildVerifyAndAPersonaRunWriteNothingToDisk) {
  testing::TempDir tmp;
  ScopedTmpdir tmpdir(tmp.path());
  const auto out = tmp / "build";  // the build output path: on the watched disk, if anywhere
  std::string built_uuid, seen_password;
  auto define = [&](std::string& uuid) {
    return [&](App& app) {
      auto& password = app.add<Password>("db-password");
      uuid = app.membrane().uuid();
      app.add<Job>("report", [&](PersonaContext& ctx) {
         seen_password = password.value(ctx);
         return 0;
       }).uses(password);
    };
  };

  MemoryEnv env;
  const BuildSummary summary = build_app("mem", define(built_uuid), env, BuildOptions{out, {}});
  EXPECT_EQ(summary.log, out / "snapshot.snaplog");
  EXPECT_EQ(env.file_type(out / "snapshot.snaplog"), FileType::kRegular);
  const std::vector<std::string> persona_dirs = env.list_directory(out / "runtime-secrets");
  ASSERT_EQ(persona_dirs.size(), 1u);
  const auto secrets_dir = out / "runtime-secrets" / persona_dirs[0];
  EXPECT_THAT(env.paths(), Contains((secrets_dir / "db-password").string()));
  const std::string password = env.read_file(out / "state/secrets/db-password");
  EXPECT_EQ(password.size(), 48u);  // 24 random bytes from the Env, hex

  // verify: replays startup from the log in the Env.
  std::string verified_uuid;
  auto verified = replay_app("mem", define(verified_uuid), env,
                             ReplayOptions{out / "snapshot.snaplog", Mode::kVerify, nullptr});
  EXPECT_EQ(verified->phase(), Phase::kFinished);
  EXPECT_EQ(verified_uuid, built_uuid);

  // run: the persona's secrets come from its directory in the Env.
  std::string run_uuid;
  auto secrets = secrets_from_directory(secrets_dir, env);
  auto app = replay_app("mem", define(run_uuid), env, ReplayOptions{out / "snapshot.snaplog", Mode::kRun, secrets.get()});
  EXPECT_EQ(run_uuid, built_uuid);
  const Persona* report = nullptr;
  for (const Persona* p : app->personas()) report = p;
  ASSERT_NE(report, nullptr);
  EXPECT_EQ(run_personas(*app, {report}, {}), 0);
  EXPECT_EQ(seen_password, password);

  EXPECT_TRUE(std::filesystem::is_empty(tmp.path())) << "a file reached the disk";
}

// The build's lock and its exchange of the output directory work in the Env as on disk:
// a second build replaces the first whole, and a held lock refuses a build.
TEST(MemoryEnvLifecycle, ARebuildExchangesTheOutputAndAHeldLockRefusesABuild) {
  MemoryEnv env;
  std::string uuid;
  auto define = [&](App& app) { uuid = app.membrane().uuid(); };
  build_app("mem", define, env, BuildOptions{"/work/out", {}});
  const std::string first = env.read_file("/work/out/snapshot.snaplog");
  write_file(env, "/work/out/stale-file", "from an older build");
  build_app("mem", define, env, BuildOptions{"/work/out", {}});
  EXPECT_FALSE(env.file_exists("/work/out/stale-file"));
  EXPECT_TRUE(env.file_exists("/work/out/snapshot.snaplog"));
  for (const std::string& name : env.list_directory("/work")) EXPECT_EQ(name.find(".staging-"), std::string::npos) << name;

  auto held = env.try_lock("/work/.out.lock", "4242");
  ASSERT_NE(held, nullptr);
  try {
    build_app("mem", define, env, BuildOptions{"/work/out", {}});
    FAIL() << "expected BuildLocked";
  } catch (const BuildLocked& e) {
    EXPECT_STREQ(e.what(), "another build is running (pid 4242) into /work/out; wait for it to finish");
  }
}

// What a build writes besides the log goes through the Env too: the architecture picture
// (with no `dot` in memory, the .dot file alone), and a --local build's record of the
// ports it holds on this host.
TEST(MemoryEnvLifecycle, TheArchitectureAndTheLocalPortRegistryAreWrittenToTheEnv) {
  testing::TempDir tmp;
  ScopedTmpdir tmpdir(tmp.path());
  MemoryEnv env;
  env.set_variable("XDG_STATE_HOME", "/state");
  auto define = [](App& app) { app.add<ApiServer>("api"); };
  BuildOptions options{"/work/out", {}};
  options.placement = Placement::kLocal;
  build_app("mem", define, env, options, {program_detail::architecture_emitter()});

  EXPECT_THAT(env.read_file("/work/out/architecture.dot"), ::testing::HasSubstr("digraph \"mem\""));
  EXPECT_FALSE(env.file_exists("/work/out/architecture.svg"));  // no programs in memory
  EXPECT_EQ(env.read_file("/state/snapshot/local-ports.json"), "{\"/work/out\":[20000]}\n");
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path())) << "a file reached the disk";
}

}  // namespace
}  // namespace snap
