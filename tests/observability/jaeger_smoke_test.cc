// A real Jaeger (scripts/build-jaeger.sh) receives a hand-written OTLP/HTTP JSON request and
// shows it back through its query API. This pins down the wire format that snap's own trace
// exporter sends, and what Jaeger answers, before any exporter code exists: if Jaeger stops
// accepting this shape, or reads it differently, these tests fail.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <utility>

#include "test_jaeger.h"

namespace {

using snap::testing::http_request;
using snap::testing::TestJaeger;

constexpr const char* kTraceId = "5b8efff798038103d269b633813fc60c";
constexpr const char* kRootSpanId = "eee19b7ec3c1b174";
constexpr const char* kChildSpanId = "0102030405060708";
constexpr const char* kService = "snap-smoke";

// The exact request body Jaeger v1.75.0 accepts (POST {otlp_http_endpoint}/v1/traces,
// Content-Type: application/json; answer 200 with body {"partialSuccess":{}}), with START,
// MID and END replaced by decimal nanosecond timestamps. It follows the OTLP specification's
// JSON encoding, which is the protobuf JSON mapping except for the ids:
//  - field names are lowerCamelCase ("traceId", "startTimeUnixNano", "scopeSpans");
//  - traceId (32) and spanId/parentSpanId (16) are lowercase HEX strings, not base64 as the
//    plain protobuf JSON mapping would have it; a root span has no parentSpanId (or "");
//  - enums are integers: kind 1 INTERNAL, 2 SERVER, 3 CLIENT, 4 PRODUCER, 5 CONSUMER (0 or
//    none: no span.kind tag at all); status.code 0 UNSET, 1 OK, 2 ERROR;
//  - 64-bit integers are decimal strings: startTimeUnixNano, endTimeUnixNano, intValue;
//  - an attribute is {"key": K, "value": {"stringValue"|"intValue"|"boolValue"|
//    "doubleValue": V}}; the service is the resource attribute service.name (without it
//    Jaeger files the spans under "missing-service-name").
// Jaeger also takes what the specification lets receivers take (snake_case names, enum names
// such as "SPAN_KIND_SERVER", JSON numbers for 64-bit fields, upper-case hex) and ignores
// unknown fields; an exporter should still send the form above.
// The request:
//
// {"resourceSpans": [{
//   "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "snap-smoke"}}]},
//   "scopeSpans": [{
//     "scope": {"name": "snap", "version": "0.1.0"},
//     "spans": [
//       {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
//        "name": "GET /api/customer", "kind": 2,
//        "startTimeUnixNano": "START", "endTimeUnixNano": "END",
//        "attributes": [{"key": "http.request.method", "value": {"stringValue": "GET"}},
//                       {"key": "http.response.status_code", "value": {"intValue": "500"}}],
//        "status": {"code": 2, "message": "customer store unreachable"}},
//       {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "0102030405060708",
//        "parentSpanId": "eee19b7ec3c1b174",
//        "name": "customers.get", "kind": 3,
//        "startTimeUnixNano": "MID", "endTimeUnixNano": "END",
//        "attributes": [{"key": "db.system", "value": {"stringValue": "postgresql"}},
//                       {"key": "snap.attempts", "value": {"intValue": "3"}}],
//        "status": {"code": 2, "message": "connection refused"}}]}]}]}
std::string request_body(std::uint64_t start, std::uint64_t mid, std::uint64_t end) {
  const std::string s = std::to_string(start), m = std::to_string(mid), e = std::to_string(end);
  return R"({"resourceSpans": [{
  "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "snap-smoke"}}]},
  "scopeSpans": [{
    "scope": {"name": "snap", "version": "0.1.0"},
    "spans": [
      {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
       "name": "GET /api/customer", "kind": 2,
       "startTimeUnixNano": ")" + s + R"(", "endTimeUnixNano": ")" + e + R"(",
       "attributes": [{"key": "http.request.method", "value": {"stringValue": "GET"}},
                      {"key": "http.response.status_code", "value": {"intValue": "500"}}],
       "status": {"code": 2, "message": "customer store unreachable"}},
      {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "0102030405060708",
       "parentSpanId": "eee19b7ec3c1b174",
       "name": "customers.get", "kind": 3,
       "startTimeUnixNano": ")" + m + R"(", "endTimeUnixNano": ")" + e + R"(",
       "attributes": [{"key": "db.system", "value": {"stringValue": "postgresql"}},
                      {"key": "snap.attempts", "value": {"intValue": "3"}}],
       "status": {"code": 2, "message": "connection refused"}}]}]}]})";
}

// Timestamps near now (a search by service looks back from now), a whole number of
// microseconds, since the query API reports microseconds.
struct Times {
  std::uint64_t start, mid, end;
};
Times now_times() {
  const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const std::uint64_t start = static_cast<std::uint64_t>(now) * 1000 - 5'000'000'000ULL;  // 5 s ago
  return {start, start + 1'250'000, start + 42'000'000};  // child from +1.25 ms, both end at +42 ms
}

// A JSON string as std::string, anything else as its JSON text: comparisons then print
// readably when they fail.
std::string str(const boost::json::value& v) {
  return v.is_string() ? std::string(v.as_string()) : boost::json::serialize(v);
}

// The query API's span tags are [{"key": K, "type": T, "value": V}]: the one named `key`.
const boost::json::object* tag(const boost::json::value& span, const std::string& key) {
  for (const auto& t : span.at("tags").as_array()) {
    if (t.at("key").as_string() == key) return &t.as_object();
  }
  return nullptr;
}

const boost::json::value* span_with_id(const boost::json::value& trace, const std::string& id) {
  for (const auto& s : trace.at("spans").as_array()) {
    if (s.at("spanID").as_string() == id) return &s;
  }
  return nullptr;
}

class JaegerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!TestJaeger::binary()) GTEST_SKIP() << "Jaeger is not built: run scripts/build-jaeger.sh";
    jaeger_.emplace();
  }
  void TearDown() override {
    if (HasFailure() && jaeger_) std::cerr << "--- Jaeger's log:\n" << jaeger_->log() << "--- end of Jaeger's log\n";
  }
  snap::testing::HttpResponse post_traces(const std::string& body, const std::string& content_type) {
    return http_request("POST", jaeger_->otlp_http_endpoint() + "/v1/traces", body, content_type);
  }
  std::optional<TestJaeger> jaeger_;
};

using JaegerSmoke = JaegerTest;

TEST_F(JaegerSmoke, OtlpJsonTraceArrivesWithParentServiceAndError) {
  const Times t = now_times();
  const auto posted = post_traces(request_body(t.start, t.mid, t.end), "application/json");
  ASSERT_EQ(posted.status, 200) << posted.body;
  EXPECT_EQ(posted.content_type, "application/json");
  // A full success: no partialSuccess.rejectedSpans.
  const auto answer = boost::json::parse(posted.body);
  EXPECT_EQ(answer, boost::json::parse(R"({"partialSuccess":{}})")) << posted.body;

  // The query API's trace (Jaeger's UI JSON):
  // {"data": [{"traceID": HEX, "spans": [{"traceID", "spanID", "operationName",
  //   "references": [{"refType": "CHILD_OF", "traceID", "spanID"}], "startTime" (us),
  //   "duration" (us), "tags": [{"key", "type", "value"}], "processID": "p1", ...}],
  //   "processes": {"p1": {"serviceName", "tags"}}}], "total", "limit", "offset", "errors"}
  const boost::json::value trace = jaeger_->wait_for_trace(kTraceId, 2);
  EXPECT_EQ(str(trace.at("traceID")), kTraceId);
  ASSERT_EQ(trace.at("spans").as_array().size(), 2u) << boost::json::serialize(trace);
  const boost::json::value* root = span_with_id(trace, kRootSpanId);
  const boost::json::value* child = span_with_id(trace, kChildSpanId);
  ASSERT_NE(root, nullptr) << boost::json::serialize(trace);
  ASSERT_NE(child, nullptr) << boost::json::serialize(trace);

  EXPECT_EQ(str(root->at("operationName")), "GET /api/customer");
  EXPECT_EQ(str(child->at("operationName")), "customers.get");

  // parentSpanId became the child's one CHILD_OF reference; the root has none.
  EXPECT_TRUE(root->at("references").as_array().empty()) << boost::json::serialize(*root);
  ASSERT_EQ(child->at("references").as_array().size(), 1u) << boost::json::serialize(*child);
  const auto& ref = child->at("references").as_array()[0];
  EXPECT_EQ(str(ref.at("refType")), "CHILD_OF");
  EXPECT_EQ(str(ref.at("traceID")), kTraceId);
  EXPECT_EQ(str(ref.at("spanID")), kRootSpanId);

  // The nanosecond strings were read as numbers: microseconds in the query API.
  EXPECT_EQ(root->at("startTime").to_number<std::int64_t>(), static_cast<std::int64_t>(t.start / 1000));
  EXPECT_EQ(root->at("duration").to_number<std::int64_t>(), static_cast<std::int64_t>((t.end - t.start) / 1000));
  EXPECT_EQ(child->at("duration").to_number<std::int64_t>(), static_cast<std::int64_t>((t.end - t.mid) / 1000));

  // service.name is the spans' process.
  for (const auto* span : {root, child}) {
    const auto& process = trace.at("processes").at(span->at("processID").as_string());
    EXPECT_EQ(str(process.at("serviceName")), kService);
  }

  // kind: SERVER and CLIENT.
  ASSERT_NE(tag(*root, "span.kind"), nullptr) << boost::json::serialize(*root);
  EXPECT_EQ(str(tag(*root, "span.kind")->at("value")), "server");
  ASSERT_NE(tag(*child, "span.kind"), nullptr) << boost::json::serialize(*child);
  EXPECT_EQ(str(tag(*child, "span.kind")->at("value")), "client");

  // status code 2 (ERROR): the error tag, and the message as otel.status_description.
  const auto* error = tag(*root, "error");
  ASSERT_NE(error, nullptr) << boost::json::serialize(*root);
  EXPECT_EQ(str(error->at("type")), "bool");
  EXPECT_EQ(error->at("value"), true);
  ASSERT_NE(tag(*root, "otel.status_code"), nullptr) << boost::json::serialize(*root);
  EXPECT_EQ(str(tag(*root, "otel.status_code")->at("value")), "ERROR");
  const auto* description = tag(*root, "otel.status_description");
  ASSERT_NE(description, nullptr) << boost::json::serialize(*root);
  EXPECT_EQ(str(description->at("value")), "customer store unreachable");
  ASSERT_NE(tag(*child, "error"), nullptr) << boost::json::serialize(*child);
  ASSERT_NE(tag(*child, "otel.status_description"), nullptr) << boost::json::serialize(*child);
  EXPECT_EQ(str(tag(*child, "otel.status_description")->at("value")), "connection refused");

  // Attributes keep their types: a string, and an int64 sent as a decimal string.
  ASSERT_NE(tag(*root, "http.request.method"), nullptr);
  EXPECT_EQ(str(tag(*root, "http.request.method")->at("type")), "string");
  EXPECT_EQ(str(tag(*root, "http.request.method")->at("value")), "GET");
  const auto* status_code = tag(*root, "http.response.status_code");
  ASSERT_NE(status_code, nullptr);
  EXPECT_EQ(str(status_code->at("type")), "int64");
  EXPECT_EQ(status_code->at("value").to_number<std::int64_t>(), 500);
  ASSERT_NE(tag(*child, "snap.attempts"), nullptr);
  EXPECT_EQ(tag(*child, "snap.attempts")->at("value").to_number<std::int64_t>(), 3);

  // The trace is found by its service too, as the UI's search does.
  const auto services = jaeger_->get("/api/services");
  EXPECT_NE(boost::json::serialize(services.at("data")).find(std::string("\"") + kService + "\""), std::string::npos)
      << boost::json::serialize(services);
  const auto found = jaeger_->get(std::string("/api/traces?service=") + kService);
  ASSERT_EQ(found.at("data").as_array().size(), 1u) << boost::json::serialize(found);
  EXPECT_EQ(str(found.at("data").as_array()[0].at("traceID")), kTraceId);
}

TEST_F(JaegerSmoke, UnknownTraceIsNotFound) {
  // Before anything is sent: what a poll sees until the trace is stored.
  const auto r = jaeger_->get(std::string("/api/traces/") + kTraceId);
  EXPECT_TRUE(r.at("data").is_null()) << boost::json::serialize(r);
  ASSERT_TRUE(r.at("errors").is_array()) << boost::json::serialize(r);
  EXPECT_EQ(r.at("errors").as_array()[0].at("code").to_number<int>(), 404) << boost::json::serialize(r);
}

// The pitfalls an exporter can fall into, each with Jaeger's answer.
using JaegerOtlpJson = JaegerTest;

TEST_F(JaegerOtlpJson, ContentTypeMayCarryParameters) {
  // The media type is parsed (mime.ParseMediaType): parameters and letter case do not matter.
  const Times t = now_times();
  EXPECT_EQ(post_traces(request_body(t.start, t.mid, t.end), "application/json; charset=utf-8").status, 200);
  EXPECT_EQ(post_traces(request_body(t.start, t.mid, t.end), "Application/JSON").status, 200);
}

TEST_F(JaegerOtlpJson, OtherContentTypesAreUnsupportedMediaType) {
  const Times t = now_times();
  const std::string body = request_body(t.start, t.mid, t.end);
  // No Content-Type at all, or a JSON body labelled as anything else: 415, text/plain.
  for (const std::string type : {"", "text/plain", "application/x-ndjson"}) {
    const auto r = post_traces(body, type);
    EXPECT_EQ(r.status, 415) << "Content-Type '" << type << "': " << r.body;
  }
  // Nothing of it was stored.
  const auto q = jaeger_->get(std::string("/api/traces/") + kTraceId);
  EXPECT_TRUE(q.at("data").is_null()) << boost::json::serialize(q);
}

TEST_F(JaegerOtlpJson, Base64IdsAreABadRequest) {
  // The plain protobuf JSON mapping encodes bytes as base64; OTLP/JSON wants hex. The same
  // ids in base64 ("W47/95gDgQPSabYzgT/GDA==" is the trace id's 16 bytes) are refused with
  // 400 and an rpc Status body ({"code": 3, "message": ...}), so such a bug cannot go unseen.
  const Times t = now_times();
  std::string body = request_body(t.start, t.mid, t.end);
  for (const auto& [hex, base64] : {std::pair<std::string, std::string>{kTraceId, "W47/95gDgQPSabYzgT/GDA=="},
                                    {kRootSpanId, "7uGbfsPBsXQ="},
                                    {kChildSpanId, "AQIDBAUGBwg="}}) {
    for (auto at = body.find(hex); at != std::string::npos; at = body.find(hex, at)) {
      body.replace(at, hex.size(), base64);
    }
  }
  const auto r = post_traces(body, "application/json");
  EXPECT_EQ(r.status, 400) << r.body;
  const auto status = boost::json::parse(r.body);
  EXPECT_EQ(status.at("code").to_number<int>(), 3) << r.body;  // INVALID_ARGUMENT
}

}  // namespace
