// snap::Error: the exit-status switch over the canonical code, one test per code, and the
// code and detail each library error is raised with (which is what puts it on its row).
#include <gtest/gtest.h>

#include "snap/api_error.h"
#include "snap/deploy.h"
#include "snap/determinism_guard.h"
#include "snap/env.h"
#include "snap/json_struct.h"
#include "snap/lifecycle.h"
#include "snap/log_reader.h"
#include "snap/membrane.h"
#include "snap/memory_env.h"
#include "snap/persona.h"
#include "snap/store.h"

namespace snap {
namespace {

struct ExitRow {
  ErrorCode code;
  int status;
};

void PrintTo(const ExitRow& row, std::ostream* os) { *os << to_string(row.code) << " " << row.status; }

class ExitStatusOfCode : public ::testing::TestWithParam<ExitRow> {};

TEST_P(ExitStatusOfCode, IsTheTablesRow) {
  const ExitRow row = GetParam();
  EXPECT_EQ(exit_status(Error(row.code, "test", "m")), row.status);
  EXPECT_EQ(exit_status_for(Error(row.code, "test", "m")), row.status) << "the lifecycle's entry point agrees";
}

// The table in snap/error.h.
INSTANTIATE_TEST_SUITE_P(
    ErrorModel, ExitStatusOfCode,
    ::testing::Values(ExitRow{ErrorCode::kInvalidArgument, 64}, ExitRow{ErrorCode::kDataLoss, 2},
                      ExitRow{ErrorCode::kFailedPrecondition, 3}, ExitRow{ErrorCode::kUnimplemented, 4},
                      ExitRow{ErrorCode::kCanceled, 1}, ExitRow{ErrorCode::kUnknown, 1},
                      ExitRow{ErrorCode::kDeadlineExceeded, 1}, ExitRow{ErrorCode::kNotFound, 1},
                      ExitRow{ErrorCode::kAlreadyExists, 1}, ExitRow{ErrorCode::kPermissionDenied, 1},
                      ExitRow{ErrorCode::kResourceExhausted, 1}, ExitRow{ErrorCode::kAborted, 1},
                      ExitRow{ErrorCode::kOutOfRange, 1}, ExitRow{ErrorCode::kInternal, 1},
                      ExitRow{ErrorCode::kUnavailable, 1}, ExitRow{ErrorCode::kUnauthenticated, 1}),
    [](const auto& info) { return std::string(to_string(info.param.code)); });

TEST(ErrorModel, ExceptionsThatAreNotSnapErrorsExitOne) {
  EXPECT_EQ(exit_status_for(std::runtime_error("x")), kExitFailure);
  EXPECT_EQ(exit_status_for(std::invalid_argument("x")), kExitFailure);
}

// Each library error, raised as the library raises it, has the code of its row.
TEST(ErrorModel, ALogErrorIsDataLossWhateverItsReason) {
  MemoryEnv env;
  try {
    LogReader::open("/nowhere.snaplog", {}, env);
    FAIL() << "no error";
  } catch (const LogError& e) {
    EXPECT_EQ(e.code(), LogErrorCode::kNotFound);
    const Error& base = e;
    EXPECT_EQ(base.code(), ErrorCode::kDataLoss);
    EXPECT_EQ(base.detail(), "log.not_found");
    EXPECT_EQ(exit_status(e), kExitLogError);
  }
  EXPECT_EQ(static_cast<const Error&>(LogError(LogErrorCode::kTruncated, "m")).detail(), "log.truncated");
  EXPECT_EQ(exit_status(LogError(LogErrorCode::kUsage, "m")), kExitLogError);
}

TEST(ErrorModel, AFileErrorKeepsTheSystemsErrorAndHasItsCanonicalCode) {
  MemoryEnv env;
  try {
    env.read_file("/absent");
    FAIL() << "no error";
  } catch (const FileError& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
    EXPECT_EQ(static_cast<const Error&>(e).code(), ErrorCode::kNotFound);
    EXPECT_EQ(e.detail(), "file");
    EXPECT_EQ(exit_status(e), kExitFailure);
  }
  // A replayed FileError has no system error (the log holds the message only).
  EXPECT_EQ(static_cast<const Error&>(FileError("m")).code(), ErrorCode::kUnknown);
  EXPECT_EQ(exit_status(FileError("m", std::make_error_code(std::errc::not_a_directory))), kExitFailure);
  EXPECT_EQ(exit_status(FileError("m", std::make_error_code(std::errc::invalid_argument))), kExitFailure);
}

TEST(ErrorModel, DivergenceAndManifestMismatchAreFailedPrecondition) {
  const Divergence d(Divergence::Reason::kDifferentCall, 2, std::nullopt, std::nullopt);
  EXPECT_EQ(d.code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(d.detail(), "divergence.different_call");
  EXPECT_EQ(exit_status(d), kExitDivergence);
  const ManifestMismatch m({"app.x"}, {}, {});
  EXPECT_EQ(m.code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(m.detail(), "replay.manifest_mismatch");
  EXPECT_EQ(exit_status(m), kExitDivergence);
}

TEST(ErrorModel, TheStoresCodeIsWhatItCrossesAnApiAs) {
  using C = StoreError::Code;
  const struct {
    C store;
    ErrorCode code;
    const char* detail;
  } rows[] = {
      {C::kInvalidArgument, ErrorCode::kInvalidArgument, "store.invalid_argument"},
      {C::kUnavailable, ErrorCode::kUnavailable, "store.unavailable"},
      {C::kConflict, ErrorCode::kAborted, "store.conflict"},
      {C::kInDoubt, ErrorCode::kUnavailable, "store.in_doubt"},
      {C::kConversion, ErrorCode::kInternal, "store.conversion"},
      {C::kBackend, ErrorCode::kInternal, "store.backend"},
  };
  for (const auto& r : rows) {
    const StoreError e(r.store, "m");
    EXPECT_EQ(e.code(), r.store);
    EXPECT_EQ(static_cast<const Error&>(e).code(), r.code) << r.detail;
    EXPECT_EQ(e.detail(), r.detail);
  }
  // Raised by a store: an empty key.
  auto store = open_memory_store(StoreOptions{"s", {}});
  try {
    store->has("");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(e.detail(), "store.invalid_argument");
  }
}

TEST(ErrorModel, TheProgramsBugsAreInternalAndExitOne) {
  const MembraneClosed closed("m");
  const ThreadRuleError thread("m");
  const PhaseError phase("m");
  const UsesError uses("m");
  const DeployError deploy("m");
  for (const Error* e : {static_cast<const Error*>(&closed), static_cast<const Error*>(&thread),
                         static_cast<const Error*>(&phase), static_cast<const Error*>(&uses),
                         static_cast<const Error*>(&deploy)}) {
    EXPECT_EQ(e->code(), ErrorCode::kInternal) << e->detail();
    EXPECT_EQ(exit_status(*e), kExitFailure) << e->detail();
  }
  EXPECT_EQ(MembraneClosed("m").detail(), "membrane.closed");
  EXPECT_EQ(ThreadRuleError("m").detail(), "membrane.thread_rule");
  EXPECT_EQ(PhaseError("m").detail(), "replay.phase");
  EXPECT_EQ(UsesError("m").detail(), "replay.uses");
  EXPECT_EQ(DeployError("m").detail(), "deploy");
}

TEST(ErrorModel, TheOtherLibraryErrorsHaveTheirCodes) {
  EXPECT_EQ(UsageError("m").code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(UsageError("m").detail(), "usage");
  EXPECT_EQ(CallFailed("m").code(), ErrorCode::kUnknown);
  EXPECT_EQ(SecretUnavailable("m").code(), ErrorCode::kNotFound);
  EXPECT_EQ(BuildLocked("m").code(), ErrorCode::kUnavailable);
  EXPECT_EQ(exit_status(BuildLocked("m")), kExitFailure);
  EXPECT_EQ(JsonError("$.a", "missing").code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(JsonError("$.a", "missing").detail(), "json");
  const ApiError api(ErrorCode::kNotFound, "no customer 7");
  EXPECT_EQ(api.code(), ErrorCode::kNotFound);
  EXPECT_EQ(api.detail(), "api");
  EXPECT_STREQ(api.what(), "not_found: no customer 7");
  const NondeterminismError n("rand", "app.cc:1", "membrane.random_int", {}, 1);
  EXPECT_EQ(n.code(), ErrorCode::kUnimplemented);
  EXPECT_EQ(n.detail(), "membrane.nondeterminism");
  EXPECT_EQ(exit_status(n), kExitNondeterminism);
}

}  // namespace
}  // namespace snap
