// The HTTP-status table (docs/api.md, "Errors"; http_status in snap/error.h), one test per
// row: a handler throws, and the status line and body are read off a real loopback
// socket, as a client that is not snap (a proxy, curl) sees them.
#include <chrono>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "raw_http.h"
#include "test_app.h"

namespace snap::apitest {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// One HTTP deployment for the suite (made on the test's main thread).
Deployment& http() {
  static Deployment d(Transport::kHttp);
  return d;
}

std::string post(const std::string& path, const std::string& body) {
  return raw_exchange(http().api_port(), "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                             "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
}

std::string status_line(const std::string& response) { return response.substr(0, response.find("\r\n")); }

std::string body_of(const std::string& response) {
  const auto end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

// ---- An ApiError: the code's row ----

struct CodeRow {
  ErrorCode code;
  int status;
};

void PrintTo(const CodeRow& row, std::ostream* os) { *os << to_string(row.code) << " " << row.status; }

class HttpStatusOfCode : public ::testing::TestWithParam<CodeRow> {};

TEST_P(HttpStatusOfCode, AHandlersApiErrorIsSentWithItsCodesStatus) {
  const CodeRow row = GetParam();
  const std::string name(to_string(row.code));
  EXPECT_EQ(http_status(row.code), row.status);
  const std::string response = post("/fail", R"({"code":")" + name + R"(","message":"row )" + name + R"("})");
  EXPECT_THAT(status_line(response), StartsWith("HTTP/1.1 " + std::to_string(row.status) + " "));
  EXPECT_EQ(body_of(response), R"({"code":")" + name + R"(","message":"row )" + name + R"("})");
}

// The table of docs/api.md, row by row.
INSTANTIATE_TEST_SUITE_P(Api, HttpStatusOfCode,
                         ::testing::Values(CodeRow{ErrorCode::kCanceled, 499}, CodeRow{ErrorCode::kUnknown, 500},
                                           CodeRow{ErrorCode::kInvalidArgument, 400},
                                           CodeRow{ErrorCode::kDeadlineExceeded, 504},
                                           CodeRow{ErrorCode::kNotFound, 404}, CodeRow{ErrorCode::kAlreadyExists, 409},
                                           CodeRow{ErrorCode::kPermissionDenied, 403},
                                           CodeRow{ErrorCode::kResourceExhausted, 429},
                                           CodeRow{ErrorCode::kFailedPrecondition, 412},
                                           CodeRow{ErrorCode::kAborted, 409}, CodeRow{ErrorCode::kOutOfRange, 400},
                                           CodeRow{ErrorCode::kUnimplemented, 501}, CodeRow{ErrorCode::kInternal, 500},
                                           CodeRow{ErrorCode::kUnavailable, 503}, CodeRow{ErrorCode::kDataLoss, 500},
                                           CodeRow{ErrorCode::kUnauthenticated, 401}),
                         [](const auto& info) { return std::string(to_string(info.param.code)); });

// ---- A StoreError: the store table's row ----

struct StoreRow {
  const char* store_code;  // what /store-fail throws (test_app.cc)
  int status;
  const char* code;
  const char* message;  // null: the store's own message crosses
};

void PrintTo(const StoreRow& row, std::ostream* os) { *os << row.store_code << " " << row.status; }

class HttpStatusOfStoreError : public ::testing::TestWithParam<StoreRow> {};

TEST_P(HttpStatusOfStoreError, AHandlersStoreErrorIsSentWithTheCodeThatSaysWhatToDo) {
  const StoreRow row = GetParam();
  const std::string store_message = "store \"s\": PostgreSQL (host=db-host port=5432) said no";
  const std::string response =
      post("/store-fail", R"({"code":")" + std::string(row.store_code) + R"(","message":")" +
                              "store \\\"s\\\": PostgreSQL (host=db-host port=5432) said no" + R"("})");
  EXPECT_THAT(status_line(response), StartsWith("HTTP/1.1 " + std::to_string(row.status) + " "));
  const auto body = boost::json::parse(body_of(response));
  EXPECT_EQ(body.at("code").as_string(), row.code);
  EXPECT_EQ(body.at("message").as_string(), row.message ? std::string(row.message) : store_message);
}

INSTANTIATE_TEST_SUITE_P(
    Api, HttpStatusOfStoreError,
    ::testing::Values(StoreRow{"invalid_argument", 400, "invalid_argument", nullptr},
                      StoreRow{"unavailable", 503, "unavailable", "the database is unavailable; retry later"},
                      StoreRow{"conflict", 409, "aborted", "the write kept conflicting with concurrent writes; retry it"},
                      StoreRow{"in_doubt", 503, "unavailable",
                               "the database connection broke while the write was committing: it may or may not "
                               "have happened; check before retrying"},
                      StoreRow{"conversion", 500, "internal", "internal error (details are in the server's log)"},
                      StoreRow{"backend", 500, "internal", "internal error (details are in the server's log)"}),
    [](const auto& info) { return std::string(info.param.store_code); });

// ---- Any other exception ----

TEST(HttpStatusOfOtherExceptions, AnyOtherExceptionIsInternal500WithAFixedMessage) {
  const std::string response = post("/crash", "");
  EXPECT_THAT(status_line(response), StartsWith("HTTP/1.1 500 "));
  EXPECT_EQ(body_of(response), R"x({"code":"internal","message":"internal error (details are in the server's log)"})x");
  EXPECT_THAT(response, ::testing::Not(HasSubstr("hunter2")));
}

}  // namespace
}  // namespace snap::apitest
