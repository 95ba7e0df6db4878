// The operating system's Env (real_env()) where it does more than one system call: running
// another program, and copying a file in pieces.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "../format/log_test_util.h"
#include "snap/env.h"
#include "snap/memory_env.h"

namespace snap {
namespace {

TEST(PosixEnv, RunProgramFeedsItsInputAndReturnsItsOutputAndStatus) {
  Env& env = real_env();
  // More than a pipe's buffer each way: input and output must flow at once.
  const std::string big(1 << 20, 'x');
  const Env::ProgramResult echoed = env.run_program({"cat"}, big);
  EXPECT_EQ(echoed.status, 0);
  EXPECT_EQ(echoed.output, big);
  const Env::ProgramResult failed = env.run_program({"sh", "-c", "echo partial; exit 3"}, "");
  EXPECT_EQ(failed.status, 3);
  EXPECT_EQ(failed.output, "partial\n");
}

TEST(PosixEnv, AMissingProgramIs127AndASignalIs128PlusItsNumber) {
  Env& env = real_env();
  EXPECT_EQ(env.run_program({"snap-no-such-program-anywhere"}, "").status, 127);
  EXPECT_EQ(env.run_program({}, "").status, 127);
  EXPECT_EQ(env.run_program({"sh", "-c", "kill -9 $$"}, "").status, 128 + 9);
}

TEST(PosixEnv, AProgramThatDoesNotReadItsInputCostsNoSignal) {
  // `true` exits at once: the input it never reads must not SIGPIPE this process.
  const Env::ProgramResult r = real_env().run_program({"true"}, std::string(4 << 20, 'x'));
  EXPECT_EQ(r.status, 0);
}

TEST(PosixEnv, CopyFileCopiesTheContentWithTheGivenPermissions) {
  testing::TempDir dir;
  Env& env = real_env();
  std::string content;
  for (int i = 0; i < 300'000; ++i) content += static_cast<char>('a' + i % 26);
  content += std::string(2 << 20, 'z');  // over 2 MiB: copied in more than one piece
  write_file(env, dir / "from", content);
  copy_file(env, dir / "from", dir / "to", std::filesystem::perms(0750));
  EXPECT_EQ(env.read_file(dir / "to"), content);
  EXPECT_EQ(std::filesystem::status(dir / "to").permissions(), std::filesystem::perms(0750));
  try {
    copy_file(env, dir / "missing", dir / "to2", std::filesystem::perms(0644));
    FAIL() << "copied a missing file";
  } catch (const FileError& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
  }
}

TEST(MemoryEnv, RunsNoProgramAndKeepsNoOwners) {
  MemoryEnv env;
  EXPECT_EQ(env.run_program({"dot", "-Tsvg"}, "digraph {}").status, 127);
  write_file(env, "/f", "x");
  env.set_owner("/f", 1000, 1000);  // accepted: the file exists
  try {
    env.set_owner("/missing", 1000, 1000);
    FAIL() << "changed the owner of a missing file";
  } catch (const FileError& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
  }
}

}  // namespace
}  // namespace snap
