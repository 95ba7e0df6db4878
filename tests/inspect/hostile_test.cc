// `snapshot inspect` on logs that try to attack the person or the script reading its
// output: terminal escapes, direction overrides and invalid UTF-8 come out escaped in
// text and as valid JSON; a FIFO is refused instead of hanging; running out of memory is
// a one-line error with exit status 2, not an abort.
#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../format/log_test_util.h"
#include "../support/subprocess.h"
#include "snap/text.h"

namespace snap {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kSnapshot = SNAP_TOOL;

// Everything a log carries that inspect prints, each with a terminal attack or bad bytes.
void write_hostile_log(const std::filesystem::path& path) {
  LogHeader h;
  h.app_name = "app\x1b[2J\x1b[H";
  h.binary_fingerprint = "fp\xff\xfe";
  h.writer_version = "w\xe2\x80\xae" "1v";
  auto writer = LogWriter::create(path, h);
  EventRecord e;
  e.kind = "env\x1b]0;owned\x07";
  e.key = "KEY\xc3";
  e.result_kind = ResultKind::kSecretHandle;
  e.bytes = "handle\x1b[31m\xff";
  e.call_site = CallSite{"src/\x1b[1mapp.cc\xc0\xaf", 7, 1, "f\xff"};
  writer->append(e);
  e.kind = "clock.wall";
  e.result_kind = ResultKind::kInteger;
  e.integer = 5;
  writer->append(e);
  Manifest m;
  m.components.push_back({"app\x1b[8m", "T\xc2\x9b", "daemon\xff", "{\"k\":\"\x1b\xff\"}", {"dep\x1b[0m\xfe"}});
  writer->finish(m);
}

// No byte that a terminal acts on (C0 controls other than the line ends, DEL, or C1
// controls in UTF-8), and valid UTF-8.
void expect_safe_for_a_terminal(const std::string& out) {
  EXPECT_TRUE(is_valid_utf8(out));
  for (std::size_t i = 0; i < out.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(out[i]);
    ASSERT_FALSE((c < 0x20 && c != '\n') || c == 0x7f) << "control byte " << int(c) << " at " << i;
    ASSERT_FALSE(c == 0xc2 && i + 1 < out.size() && static_cast<unsigned char>(out[i + 1]) < 0xa0)
        << "C1 control at " << i;
  }
}

TEST(InspectHostile, TextEscapesControlsAndInvalidUtf8) {
  testing::TempDir dir;
  const auto log = dir / "hostile.snaplog";
  write_hostile_log(log);
  auto r = testing::run_process({kSnapshot, "inspect", log.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_safe_for_a_terminal(r.out);
  EXPECT_THAT(r.out, HasSubstr("  app:            app\\x1b[2J\\x1b[H\n"));
  EXPECT_THAT(r.out, HasSubstr("  binary:         fp\\xff\\xfe\n"));
  EXPECT_THAT(r.out, HasSubstr("  writer:         w\\u202e1v\n"));
  EXPECT_THAT(r.out, HasSubstr("  env\\x1b]0;owned\\x07  1\n"));
  EXPECT_THAT(r.out, HasSubstr("app\\x1b[8m  T\\u009b  [daemon\\xff]  {\"k\":\"\\x1b\\xff\"}  uses dep\\x1b[0m\\xfe"));
  EXPECT_THAT(r.out, HasSubstr("#0  env\\x1b]0;owned\\x07  hex:4b4559c3  -> secret:handle\\x1b[31m\\xff  @ "
                               "src/\\x1b[1mapp.cc\\xc0\\xaf:7"));
}

TEST(InspectHostile, JsonIsValidUtf8AndParsesInPython) {
  testing::TempDir dir;
  const auto log = dir / "hostile.snaplog";
  write_hostile_log(log);
  auto r = testing::run_process({kSnapshot, "inspect", "--json", log.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(is_valid_utf8(r.out));
  EXPECT_THAT(r.out, Not(HasSubstr("\x1b")));
  EXPECT_THAT(r.out, HasSubstr(R"("app":"app\u001b[2J\u001b[H")"));
  EXPECT_THAT(r.out, HasSubstr(R"("binary_fingerprint":"fp\\xff\\xfe")"));
  EXPECT_THAT(r.out, HasSubstr(R"("handle":"handle\\x1b[31m\\xff")"));

  // A strict consumer: Python's json module reading the output as UTF-8.
  if (!std::filesystem::exists("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3";
  testing::write_file(dir / "out.json", r.out);
  auto py = testing::run_process(
      {"/usr/bin/python3", "-c",
       "import json, sys\n"
       "doc = json.load(open(sys.argv[1], encoding='utf-8', errors='strict'))\n"
       "print(doc['header']['app'] == 'app\\x1b[2J\\x1b[H', doc['events'][0]['kind'], len(doc['manifest']))\n",
       (dir / "out.json").string()});
  EXPECT_EQ(py.exit_code, 0) << py.err;
  EXPECT_EQ(py.out, "True env\x1b]0;owned\x07 1\n");
}

TEST(InspectHostile, FifoIsRefusedNotWaitedOn) {
  testing::TempDir dir;
  const auto fifo = dir / "log.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto r = testing::run_process({kSnapshot, "inspect", fifo.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, fifo.string() + ": not a snapshot log: not a regular file\n");
  EXPECT_EQ(r.out, "");

  try {
    LogReader::open(fifo);
    FAIL() << "a FIFO opened as a log";
  } catch (const LogError& e) {
    EXPECT_EQ(e.code(), LogErrorCode::kNotASnapshotLog);
  }
  auto dev = testing::run_process({kSnapshot, "inspect", "/dev/zero"});
  EXPECT_EQ(dev.exit_code, 2);
  EXPECT_EQ(dev.err, "/dev/zero: not a snapshot log: not a regular file\n");
}

#if defined(__SANITIZE_ADDRESS__)
#define SNAP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SNAP_ASAN 1
#endif
#endif

TEST(InspectHostile, OutOfMemoryIsAnErrorNotAnAbort) {
#ifdef SNAP_ASAN
  GTEST_SKIP() << "AddressSanitizer reserves terabytes of address space: an address-space limit cannot apply";
#else
  testing::TempDir dir;
  const auto log = dir / "big.snaplog";
  testing::write_synthetic_log(log, 400000);
  // --json holds the whole document: ~400 MB for these events, over a 300 MB address space.
  auto r = testing::run_process(
      {"/bin/sh", "-c", "ulimit -v 300000 && exec \"$0\" inspect --json \"$1\"", kSnapshot, log.string()});
  EXPECT_EQ(r.exit_code, 2) << r.err.substr(0, 300);
  EXPECT_EQ(r.err, "snapshot inspect: out of memory: the log is too large for the memory available\n");
#endif
}

}  // namespace
}  // namespace snap
