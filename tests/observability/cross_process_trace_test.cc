// Traces across real processes into a real Jaeger: a `--local` build of relay_app (a job
// that calls server front, which calls server back) run persona by persona as child
// processes, each exporting over OTLP/HTTP to a Jaeger the test starts
// (snap::testing::TestJaeger); what arrives is read back through Jaeger's query API.
// Also what happens to requests and to the spans when the collector is down or hung.
//
// Every process is a child of the test and stopped by it (SIGTERM, then SIGKILL), also
// when an assertion fails; every directory is removed. Waits are bounded polls.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <chrono>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "local_run.h"
#include "test_jaeger.h"

namespace {

using snap::testing::BackgroundProcess;
using snap::testing::ClosedLoopbackPort;
using snap::testing::http_request;
using snap::testing::LocalBuild;
using snap::testing::raw_http_exchange;
using snap::testing::SilentLoopbackPort;
using snap::testing::TestJaeger;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr const char* kRelayApp = SNAP_RELAY_APP;
constexpr const char* kFrontPort = "relay.front.port";
constexpr const char* kBackPort = "relay.back.port";
// Bounds for what is broken or hung, not waits.
constexpr auto kJobBound = 60s;
// A server's spans leave at least every 5 s (BatchOptions::delay); the bound leaves room for
// a loaded machine (two cores, a sanitizer build, Jaeger beside the servers).
constexpr auto kArrivalBound = 90s;
constexpr auto kPoll = 50ms;

std::string str(const boost::json::value& v) {
  return v.is_string() ? std::string(v.as_string()) : boost::json::serialize(v);
}

// The query API's span tags are [{"key": K, "type": T, "value": V}]: the value of `key`.
std::optional<std::string> tag(const boost::json::value& span, const std::string& key) {
  for (const auto& t : span.at("tags").as_array()) {
    if (t.at("key").as_string() == key) return str(t.at("value"));
  }
  return std::nullopt;
}

std::string service_of(const boost::json::value& trace, const boost::json::value& span) {
  return str(trace.at("processes").at(span.at("processID").as_string()).at("serviceName"));
}

// The spans with a CHILD_OF reference to `parent_id`.
std::vector<const boost::json::value*> children_of(const boost::json::value& trace, const std::string& parent_id) {
  std::vector<const boost::json::value*> out;
  for (const auto& s : trace.at("spans").as_array()) {
    for (const auto& r : s.at("references").as_array()) {
      if (str(r.at("refType")) == "CHILD_OF" && str(r.at("spanID")) == parent_id) out.push_back(&s);
    }
  }
  return out;
}

// The one child of `parent` named `operation` of kind `kind` (span.kind tag); null, with a
// failure recorded, when there is not exactly one.
const boost::json::value* only_child(const boost::json::value& trace, const boost::json::value& parent,
                                     const std::string& operation, const std::string& kind) {
  std::vector<const boost::json::value*> found;
  for (const auto* c : children_of(trace, str(parent.at("spanID")))) {
    if (str(c->at("operationName")) == operation && tag(*c, "span.kind") == kind) found.push_back(c);
  }
  if (found.size() != 1) {
    ADD_FAILURE() << "span " << str(parent.at("spanID")) << " (" << str(parent.at("operationName")) << ") has "
                  << found.size() << " children \"" << operation << "\" of kind " << kind
                  << ", not one; the trace: " << boost::json::serialize(trace);
    return nullptr;
  }
  return found[0];
}

std::size_t count_traces(const TestJaeger& jaeger, const std::string& service) {
  const auto found = jaeger.get("/api/traces?service=" + service);
  const auto* data = found.as_object().if_contains("data");
  return data != nullptr && data->is_array() ? data->as_array().size() : 0;
}

std::vector<std::string> trace_ids(const TestJaeger& jaeger, const std::string& service) {
  std::vector<std::string> ids;
  const auto found = jaeger.get("/api/traces?service=" + service);
  if (const auto* data = found.as_object().if_contains("data"); data != nullptr && data->is_array()) {
    for (const auto& t : data->as_array()) ids.push_back(str(t.at("traceID")));
  }
  return ids;
}

// Polls until a search by `service` finds `n` traces (bounded); false with `last` otherwise.
bool wait_for_trace_count(const TestJaeger& jaeger, const std::string& service, std::size_t n,
                          std::chrono::milliseconds bound, std::size_t& last) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  for (;;) {
    last = count_traces(jaeger, service);
    if (last == n) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kPoll);
  }
}

std::vector<std::string> services(const TestJaeger& jaeger) {
  std::vector<std::string> out;
  const auto answer = jaeger.get("/api/services");
  if (const auto* data = answer.as_object().if_contains("data"); data != nullptr && data->is_array()) {
    for (const auto& s : data->as_array()) out.push_back(str(s));
  }
  return out;
}

// "trace <32 hex>" from the caller job's stdout; "" when it printed none.
std::string printed_trace_id(const std::string& out) {
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("trace ", 0) == 0) return line.substr(6);
  }
  return "";
}

// POST /front/work {"text": TEXT}, as raw bytes with the given trace headers (each left
// out when empty).
std::string work_request(unsigned short port, const std::string& text, const std::string& traceparent,
                         const std::string& tracestate) {
  const std::string body = "{\"text\":\"" + text + "\"}";
  std::string request = "POST /front/work HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                        "\r\nConnection: close\r\n";
  if (!traceparent.empty()) request += "traceparent: " + traceparent + "\r\n";
  if (!tracestate.empty()) request += "tracestate: " + tracestate + "\r\n";
  return request + "\r\n" + body;
}

std::string url(unsigned short port, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(port) + path;
}

// A sample's value in Prometheus' text exposition: the line "SERIES VALUE" for `series`
// exactly as written (name, and labels if any); nullopt when there is no such line.
std::optional<double> exposed_value(const std::string& exposition, const std::string& series) {
  std::istringstream in(exposition);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

// Lines of `text` that contain `needle`.
std::vector<std::string> lines_with(const std::string& text, const std::string& needle) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.find(needle) != std::string::npos) out.push_back(line);
  }
  return out;
}

// ---- a Jaeger and a --local build of relay_app ----

class CrossProcessTrace : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!TestJaeger::binary()) GTEST_SKIP() << "Jaeger is not built: run scripts/build-jaeger.sh";
    jaeger_.emplace();
    build_.emplace(kRelayApp);
    front_port_ = build_->port(kFrontPort);
    back_port_ = build_->port(kBackPort);
  }
  void TearDown() override {
    if (!HasFailure()) return;
    if (build_) std::cerr << build_->describe();
    if (jaeger_) std::cerr << "--- Jaeger's log:\n" << jaeger_->log() << "--- end of Jaeger's log\n";
  }

  std::map<std::string, std::string> exporting(std::map<std::string, std::string> extra = {}) const {
    extra["OTEL_EXPORTER_OTLP_ENDPOINT"] = jaeger_->otlp_http_endpoint();
    return extra;
  }

  // Starts back and then front, and waits until both answer /healthz.
  std::pair<BackgroundProcess*, BackgroundProcess*> start_servers(const std::map<std::string, std::string>& front_env,
                                                                   const std::map<std::string, std::string>& back_env,
                                                                   const std::string& label = "") {
    BackgroundProcess& back = build_->start("back", back_env, label + "back");
    BackgroundProcess& front = build_->start("front", front_env, label + "front");
    LocalBuild::wait_healthy(back, back_port_);
    LocalBuild::wait_healthy(front, front_port_);
    return {&front, &back};
  }

  // Declared first, destroyed last: the personas stop (and flush their spans) while
  // Jaeger still runs.
  std::optional<TestJaeger> jaeger_;
  std::optional<LocalBuild> build_;
  unsigned short front_port_ = 0, back_port_ = 0;
};

// 1. One request, three processes, one trace:
//    job caller -> client POST /front/work -> server POST /front/work (front)
//               -> client POST /back/work (front) -> server POST /back/work (back).
TEST_F(CrossProcessTrace, JobThroughFrontToBackIsOneTraceAcrossThreeProcesses) {
  start_servers(exporting(), exporting());
  BackgroundProcess& job = build_->start("caller", exporting());
  ASSERT_TRUE(job.wait_for_exit(kJobBound)) << job.describe();
  ASSERT_EQ(job.exit_code(), 0) << job.describe();
  EXPECT_THAT(job.out(), HasSubstr("result job front back"));
  const std::string trace_id = printed_trace_id(job.out());
  ASSERT_EQ(trace_id.size(), 32u) << "the job printed no trace id:\n" << job.describe();
  ASSERT_NE(trace_id, std::string(32, '0')) << "the job's run had no span";

  // The job exported its spans when it exited; the servers' come within their batch delay.
  const boost::json::value trace = jaeger_->wait_for_trace(trace_id, 5, kArrivalBound);
  const std::string dump = boost::json::serialize(trace);
  const auto& spans = trace.at("spans").as_array();
  EXPECT_EQ(spans.size(), 5u) << dump;
  for (const auto& s : spans) EXPECT_EQ(str(s.at("traceID")), trace_id) << dump;

  // The root: the job's run.
  std::vector<const boost::json::value*> roots;
  for (const auto& s : spans) {
    if (s.at("references").as_array().empty()) roots.push_back(&s);
  }
  ASSERT_EQ(roots.size(), 1u) << dump;
  const boost::json::value& job_span = *roots[0];
  EXPECT_EQ(str(job_span.at("operationName")), "job caller") << dump;
  EXPECT_EQ(service_of(trace, job_span), "caller");

  // Each link is a CHILD_OF reference to the span before it, and each span is its process's.
  const auto* client_front = only_child(trace, job_span, "POST /front/work", "client");
  ASSERT_NE(client_front, nullptr);
  EXPECT_EQ(service_of(trace, *client_front), "caller");
  const auto* server_front = only_child(trace, *client_front, "POST /front/work", "server");
  ASSERT_NE(server_front, nullptr);
  EXPECT_EQ(service_of(trace, *server_front), "front");
  const auto* client_back = only_child(trace, *server_front, "POST /back/work", "client");
  ASSERT_NE(client_back, nullptr);
  EXPECT_EQ(service_of(trace, *client_back), "front");
  const auto* server_back = only_child(trace, *client_back, "POST /back/work", "server");
  ASSERT_NE(server_back, nullptr);
  EXPECT_EQ(service_of(trace, *server_back), "back");
  EXPECT_TRUE(children_of(trace, str(server_back->at("spanID"))).empty()) << dump;

  // What the spans say about the request.
  EXPECT_EQ(tag(*server_front, "http.response.status_code"), "200") << dump;
  EXPECT_EQ(tag(*server_back, "http.route"), "/back/work") << dump;
  EXPECT_EQ(tag(*client_back, "server.port"), std::to_string(back_port_)) << dump;
  EXPECT_EQ(tag(job_span, "process.exit.code"), "0") << dump;
  for (const auto& s : spans) EXPECT_EQ(tag(s, "error"), std::nullopt) << "no span failed: " << dump;

  // Three processes, one service each.
  std::set<std::string> names;
  for (const auto& [id, process] : trace.at("processes").as_object()) names.insert(str(process.at("serviceName")));
  EXPECT_EQ(names, (std::set<std::string>{"caller", "front", "back"})) << dump;

  // And it is the only trace: each service's search finds this one.
  for (const std::string service : {"caller", "front", "back"}) {
    EXPECT_EQ(trace_ids(*jaeger_, service), std::vector<std::string>{trace_id}) << service;
  }
}

// 2. A caller outside the program: its traceparent makes the server span its child, in its
// trace, and its tracestate goes on to the next hop; a traceparent whose sampled flag is
// off is honoured too (nothing recorded). OTEL_SERVICE_NAME names front's service.
TEST_F(CrossProcessTrace, OutsideCallersTraceparentAndTracestateAreHonoured) {
  start_servers(exporting({{"OTEL_SERVICE_NAME", "storefront"}}), exporting());
  const std::string sampled_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string unsampled_trace = "5bf92f3577b34da6a3ce929d0e0e4736";
  const std::string caller_span = "00f067aa0ba902b7";
  const std::string tracestate = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";

  // The unsampled request first: its spans, if any were recorded, would be queued before
  // the sampled request's in both processes, and so exported no later.
  const auto unsampled =
      raw_http_exchange(front_port_, work_request(front_port_, "quiet", "00-" + unsampled_trace + "-" + caller_span + "-00", ""));
  EXPECT_EQ(unsampled.status, 200) << unsampled.head << "\n" << unsampled.body;
  const auto sampled = raw_http_exchange(
      front_port_, work_request(front_port_, "raw", "00-" + sampled_trace + "-" + caller_span + "-01", tracestate));
  ASSERT_EQ(sampled.status, 200) << sampled.head << "\n" << sampled.body;
  EXPECT_THAT(sampled.body, HasSubstr("raw front back"));

  const boost::json::value trace = jaeger_->wait_for_trace(sampled_trace, 3, kArrivalBound);
  const std::string dump = boost::json::serialize(trace);
  EXPECT_EQ(trace.at("spans").as_array().size(), 3u) << dump;

  // The server span: a child of the caller's span, in the caller's trace.
  const boost::json::value* server_front = nullptr;
  for (const auto& s : trace.at("spans").as_array()) {
    if (str(s.at("operationName")) == "POST /front/work") server_front = &s;
  }
  ASSERT_NE(server_front, nullptr) << dump;
  EXPECT_EQ(tag(*server_front, "span.kind"), "server") << dump;
  const auto& refs = server_front->at("references").as_array();
  ASSERT_EQ(refs.size(), 1u) << dump;
  EXPECT_EQ(str(refs[0].at("refType")), "CHILD_OF");
  EXPECT_EQ(str(refs[0].at("traceID")), sampled_trace);
  EXPECT_EQ(str(refs[0].at("spanID")), caller_span);
  EXPECT_EQ(service_of(trace, *server_front), "storefront");

  // The rest of the trace continues from it, across the second process.
  const auto* client_back = only_child(trace, *server_front, "POST /back/work", "client");
  ASSERT_NE(client_back, nullptr);
  EXPECT_EQ(service_of(trace, *client_back), "storefront");
  const auto* server_back = only_child(trace, *client_back, "POST /back/work", "server");
  ASSERT_NE(server_back, nullptr);
  EXPECT_EQ(service_of(trace, *server_back), "back");

  // tracestate, unchanged, on every span (Jaeger shows it as w3c.tracestate): on back's,
  // it crossed the second hop in front's outgoing request.
  for (const auto* s : {server_front, client_back, server_back}) {
    EXPECT_EQ(tag(*s, "w3c.tracestate"), tracestate) << str(s->at("operationName")) << ": " << dump;
  }

  // Nothing of the unsampled request: not in Jaeger, although everything front and back
  // recorded before the sampled request has been exported with it.
  const auto quiet = jaeger_->get("/api/traces/" + unsampled_trace);
  EXPECT_TRUE(quiet.at("data").is_null()) << boost::json::serialize(quiet);
  EXPECT_EQ(trace_ids(*jaeger_, "storefront"), std::vector<std::string>{sampled_trace});
}

// 3. OTEL_TRACES_SAMPLER=always_off: requests work and no span reaches Jaeger -- from front,
// nor from back, whose default sampler follows the unsampled decision front sends along.
// Each phase runs both servers, makes its requests, and stops them; a process that stops
// has exported what it recorded before it exits. A control phase with sampling on before
// (traces do arrive) and another after (so everything the always_off phase could have sent
// was sent before spans that Jaeger has already shown).
TEST_F(CrossProcessTrace, SamplingOffSendsNoSpans) {
  constexpr int kRequests = 5;
  const auto phase = [&](const std::string& name, std::map<std::string, std::string> front_env) {
    front_env["OTEL_SERVICE_NAME"] = name + "-front";
    const auto [front, back] = start_servers(exporting(front_env), exporting({{"OTEL_SERVICE_NAME", name + "-back"}}),
                                             name + "-");
    for (int i = 0; i < kRequests; ++i) {
      const auto r = http_request("POST", url(front_port_, "/front/work"), R"({"text":"x"})", "application/json");
      EXPECT_EQ(r.status, 200) << name << ": " << r.body;
    }
    for (BackgroundProcess* p : {front, back}) {
      EXPECT_TRUE(p->stop(20s)) << p->describe();
      EXPECT_EQ(p->exit_code(), 0) << p->describe();
      EXPECT_THAT(p->err(), ::testing::Not(HasSubstr("snap: tracing:"))) << p->describe();
    }
  };
  std::size_t last = 0;

  phase("control", {});
  EXPECT_TRUE(wait_for_trace_count(*jaeger_, "control-front", kRequests, kArrivalBound, last)) << last;
  EXPECT_TRUE(wait_for_trace_count(*jaeger_, "control-back", kRequests, kArrivalBound, last)) << last;

  phase("off", {{"OTEL_TRACES_SAMPLER", "always_off"}});

  phase("after", {});
  EXPECT_TRUE(wait_for_trace_count(*jaeger_, "after-front", kRequests, kArrivalBound, last)) << last;
  EXPECT_TRUE(wait_for_trace_count(*jaeger_, "after-back", kRequests, kArrivalBound, last)) << last;

  EXPECT_EQ(count_traces(*jaeger_, "off-front"), 0u);
  EXPECT_EQ(count_traces(*jaeger_, "off-back"), 0u);
  const auto known = services(*jaeger_);
  EXPECT_THAT(known, ::testing::Not(::testing::Contains("off-front")));
  EXPECT_THAT(known, ::testing::Not(::testing::Contains("off-back")));
  EXPECT_THAT(known, ::testing::IsSupersetOf({"control-front", "control-back", "after-front", "after-back"}));
}

// ---- no collector ----

struct Scrape {
  std::optional<double> dropped;
  std::string text;
};
Scrape scrape(unsigned short port) {
  const auto r = http_request("GET", url(port, "/metrics"));
  return {exposed_value(r.body, "snap_trace_spans_dropped_total"), r.body};
}

// 4. The collector's port is closed: every request still succeeds; the spans the exporter
// could not deliver are counted in snap_trace_spans_dropped_total (one per request: a
// server span each), and the loss is logged once, not once per batch; the process still
// stops cleanly, reporting the losses not yet logged.
TEST(TelemetryCollectorDown, RequestsSucceedAndLostSpansAreCountedAndLoggedOnce) {
  constexpr int kRequests = 200;
  const std::string kLine = "spans dropped";
  ClosedLoopbackPort collector;
  LocalBuild build(kRelayApp);
  const unsigned short port = build.port(kFrontPort);
  BackgroundProcess& front = build.start(
      "front", {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:" + std::to_string(collector.port())}});
  LocalBuild::wait_healthy(front, port);

  const auto requests = [&] {
    int ok = 0;
    for (int i = 0; i < kRequests; ++i) {
      const auto r = http_request("GET", url(port, "/front/item"), R"({"id":"1"})", "application/json");
      if (r.status == 200) ++ok;
    }
    return ok;
  };
  // Polls /metrics until `total` spans are counted as dropped and the line was logged.
  const auto wait_for_dropped = [&](double total) {
    const auto deadline = std::chrono::steady_clock::now() + kArrivalBound;
    Scrape last;
    for (;;) {
      last = scrape(port);
      if (last.dropped == total && !lines_with(front.err(), kLine).empty()) return true;
      if (std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(kPoll);
    }
    ADD_FAILURE() << "snap_trace_spans_dropped_total did not reach " << total << " with the line logged within "
                  << std::chrono::seconds(kArrivalBound).count() << " s; last scrape:\n"
                  << last.text << front.describe();
    return false;
  };

  EXPECT_EQ(requests(), kRequests);
  ASSERT_TRUE(wait_for_dropped(kRequests));
  EXPECT_EQ(lines_with(front.err(), kLine).size(), 1u) << front.describe();

  // More losses within the minute: counted, not logged again.
  EXPECT_EQ(requests(), kRequests);
  ASSERT_TRUE(wait_for_dropped(2 * kRequests));
  EXPECT_EQ(lines_with(front.err(), kLine).size(), 1u) << front.describe();

  // At exit the losses not yet logged are: one more line, with the total.
  ASSERT_TRUE(front.stop(20s)) << front.describe();
  EXPECT_EQ(front.exit_code(), 0) << front.describe();
  const auto lines = lines_with(front.err(), kLine);
  ASSERT_EQ(lines.size(), 2u) << front.describe();
  EXPECT_THAT(lines[1], HasSubstr("(" + std::to_string(2 * kRequests) + " dropped in all)")) << front.describe();
}

// 4b. The collector takes the connection and never answers. Requests still succeed, and the
// process still stops when asked: BatchSpanProcessor's destructor exports what is queued
// "bounded by export_timeout" (30 s by default, snap/trace.h), so SIGTERM must end the
// process within that bound and some slack.
TEST(TelemetryCollectorHung, RequestsSucceedAndTheServerStillStops) {
  constexpr auto kExportTimeout = 30s;  // BatchOptions::export_timeout's default
  constexpr auto kSlack = 10s;
  SilentLoopbackPort collector;
  LocalBuild build(kRelayApp);
  const unsigned short port = build.port(kFrontPort);
  BackgroundProcess& front = build.start(
      "front", {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:" + std::to_string(collector.port())}});
  LocalBuild::wait_healthy(front, port);
  for (int i = 0; i < 10; ++i) {
    const auto r = http_request("GET", url(port, "/front/item"), R"({"id":"1"})", "application/json");
    EXPECT_EQ(r.status, 200) << r.body;
  }
  const auto asked = std::chrono::steady_clock::now();
  front.send_signal(SIGTERM);
  const bool exited = front.wait_for_exit(kExportTimeout + kSlack);
  const auto took = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - asked);
  EXPECT_TRUE(exited) << "still running " << took.count()
                      << " s after SIGTERM: the span exporter waits for the hung collector without a bound\n"
                      << front.describe();
  if (exited) {
    EXPECT_EQ(front.exit_code(), 0) << front.describe();
  }
}

}  // namespace
