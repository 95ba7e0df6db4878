// The trace model (snap/trace.h): W3C Trace Context, sampling, parent/child links through
// the current span, the in-memory collector, the batch processor's bounds, and the OTLP/JSON
// body. The same body is accepted by a real Jaeger in tests/observability.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <future>
#include <thread>
#include <mutex>

#include "snap/memory_env.h"
#include "snap/trace.h"

namespace snap {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr std::string_view kSampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(TraceParent, ReadsAndWritesVersion00) {
  const std::optional<SpanContext> c = parse_traceparent(kSampled, "congo=t61rcWkgMzE");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->trace_id.hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(c->span_id.hex(), "00f067aa0ba902b7");
  EXPECT_TRUE(c->sampled);
  EXPECT_EQ(c->trace_state, "congo=t61rcWkgMzE");
  EXPECT_EQ(traceparent_of(*c), kSampled);
  const auto unsampled = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(unsampled);
  EXPECT_FALSE(unsampled->sampled);
}

TEST(TraceParent, RefusesWhatTheSpecRefuses) {
  for (const std::string_view bad : {
           "",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",          // short
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",   // 00 has no more fields
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",         // upper-case hex
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",         // zero trace id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",         // zero span id
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",         // version ff
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",         // separator
           "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",         // not hex
           "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",        // later version, no dash
       }) {
    EXPECT_FALSE(parse_traceparent(bad)) << bad;
  }
  // A later version is read by its first four fields.
  EXPECT_TRUE(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"));
  // An oversized tracestate is dropped, the parent kept.
  const auto c = parse_traceparent(kSampled, std::string(513, 'a'));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->trace_state, "");
}

TEST(TraceConfig, ReadsTheStandardVariablesAndWarnsAboutBadOnes) {
  MemoryEnv env;
  EXPECT_EQ(trace_config_from(env).sampler, Sampler::kParentBasedAlwaysOn);
  env.set_variable("OTEL_TRACES_SAMPLER", "traceidratio");
  env.set_variable("OTEL_TRACES_SAMPLER_ARG", "0.25");
  TraceConfig c = trace_config_from(env);
  EXPECT_EQ(c.sampler, Sampler::kTraceIdRatio);
  EXPECT_EQ(c.ratio, 0.25);
  std::vector<std::string> warnings;
  env.set_variable("OTEL_TRACES_SAMPLER_ARG", "2");
  EXPECT_EQ(trace_config_from(env, &warnings).ratio, 1.0);
  env.set_variable("OTEL_TRACES_SAMPLER", "jaeger_remote");
  EXPECT_EQ(trace_config_from(env, &warnings).sampler, Sampler::kParentBasedAlwaysOn);
  EXPECT_THAT(warnings, ElementsAre(HasSubstr("OTEL_TRACES_SAMPLER_ARG=2 is not a ratio in [0, 1]"),
                                    HasSubstr("OTEL_TRACES_SAMPLER=jaeger_remote is not a sampler")));
}

TEST(BatchOptions, ReadTheStandardVariablesAndWarnAboutBadOnes) {
  MemoryEnv env;
  env.set_variable("OTEL_BSP_SCHEDULE_DELAY", "200");
  env.set_variable("OTEL_BSP_EXPORT_TIMEOUT", "1500");
  env.set_variable("OTEL_BSP_MAX_QUEUE_SIZE", "100");
  env.set_variable("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "500");
  std::vector<std::string> warnings;
  BatchOptions o = batch_options_from(env, {}, &warnings);
  EXPECT_EQ(o.delay, std::chrono::milliseconds(200));
  EXPECT_EQ(o.export_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(o.max_queue, 100u);
  EXPECT_EQ(o.max_batch, 100u);  // no larger than the queue
  env.set_variable("OTEL_BSP_SCHEDULE_DELAY", "soon");
  env.set_variable("OTEL_BSP_MAX_QUEUE_SIZE", "0");
  o = batch_options_from(env, {}, &warnings);
  EXPECT_EQ(o.delay, std::chrono::milliseconds(5000));
  EXPECT_EQ(o.max_queue, 2048u);
  EXPECT_THAT(warnings, ElementsAre(HasSubstr("OTEL_BSP_MAX_EXPORT_BATCH_SIZE=500 is larger than the queue (100)"),
                                    HasSubstr("OTEL_BSP_SCHEDULE_DELAY=soon is not a positive integer"),
                                    HasSubstr("OTEL_BSP_MAX_QUEUE_SIZE=0 is not a positive integer")));
}

TEST(Tracer, ChildrenOfTheCurrentSpanShareItsTraceAndNameItAsParent) {
  MemoryEnv env;
  SpanCollector collected;
  Tracer tracer(env, {}, {&collected});
  {
    Span root = tracer.start("GET /api/customer/{id}", SpanKind::kServer, "api", nullptr);
    root.set("http.response.status_code", 200).set("url.path", "/api/customer/1");
    ActiveSpan active(root, tracer, "api");
    EXPECT_EQ(current_span(), &root);
    {
      Span store = start_child_span("get customers", SpanKind::kClient);
      store.set("db.operation.name", "get");
      store.set_error("unavailable");
    }
  }
  EXPECT_EQ(current_span(), nullptr);
  const std::vector<SpanData> spans = collected.recent();
  ASSERT_EQ(spans.size(), 2u);
  const SpanData& root = spans[0];  // newest first: the root ended last
  const SpanData& store = spans[1];
  EXPECT_EQ(root.name, "GET /api/customer/{id}");
  EXPECT_FALSE(root.parent.valid());
  EXPECT_EQ(store.context.trace_id, root.context.trace_id);
  EXPECT_EQ(store.parent, root.context.span_id);
  EXPECT_EQ(store.service, "api");
  EXPECT_EQ(store.kind, SpanKind::kClient);
  EXPECT_TRUE(store.error);
  EXPECT_EQ(store.status_message, "unavailable");
  EXPECT_LT(root.start, store.start);
  EXPECT_LT(store.end, root.end);
  EXPECT_EQ(collected.trace(root.context.trace_id).size(), 2u);
}

TEST(Tracer, NoActiveSpanNoChild) {
  const Span orphan = start_child_span("get customers", SpanKind::kClient);
  EXPECT_FALSE(orphan.recording());
  EXPECT_FALSE(orphan.context().valid());
}

TEST(Tracer, ARemoteParentIsContinuedAndItsSamplingFollowed) {
  MemoryEnv env;
  SpanCollector collected;
  Tracer tracer(env, {}, {&collected});
  const SpanContext sampled = *parse_traceparent(kSampled, "k=v");
  {
    Span s = tracer.start("handle", SpanKind::kServer, "api", &sampled);
    EXPECT_TRUE(s.recording());
    EXPECT_EQ(s.context().trace_id, sampled.trace_id);
    EXPECT_EQ(s.context().trace_state, "k=v");
  }
  ASSERT_EQ(collected.recent().size(), 1u);
  EXPECT_EQ(collected.recent()[0].parent, sampled.span_id);

  SpanContext unsampled = sampled;
  unsampled.sampled = false;
  Span s = tracer.start("handle", SpanKind::kServer, "api", &unsampled);
  EXPECT_FALSE(s.recording());
  EXPECT_TRUE(s.context().valid());  // still passed on, as unsampled
  EXPECT_FALSE(s.context().sampled);
}

TEST(Tracer, SamplingOffRecordsNothingAndARatioSamplesItsShare) {
  MemoryEnv env;
  SpanCollector collected;
  Tracer off(env, {Sampler::kAlwaysOff, 1.0}, {&collected});
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(off.start("x", SpanKind::kServer, "api", nullptr).recording());
  EXPECT_TRUE(collected.recent().empty());

  Tracer quarter(env, {Sampler::kTraceIdRatio, 0.25}, {&collected});
  int sampled = 0;
  for (int i = 0; i < 4000; ++i) sampled += quarter.start("x", SpanKind::kServer, "api", nullptr).context().sampled;
  EXPECT_GT(sampled, 800);   // 1000 expected; the bounds are 6 standard deviations
  EXPECT_LT(sampled, 1200);
}

TEST(Tracer, ANoSinkTracerPassesContextsOnAndRecordsNothing) {
  MemoryEnv env;
  Tracer tracer(env, {}, {});
  Span s = tracer.start("x", SpanKind::kServer, "api", nullptr);
  EXPECT_FALSE(s.recording());
  EXPECT_TRUE(s.context().valid());
  EXPECT_TRUE(s.context().sampled);
}

TEST(SpanCollector, KeepsTheNewestUpToItsCapacity) {
  MemoryEnv env;
  SpanCollector collected(3);
  Tracer tracer(env, {}, {&collected});
  for (int i = 0; i < 5; ++i) tracer.start("span " + std::to_string(i), SpanKind::kInternal, "s", nullptr).end();
  std::vector<std::string> names;
  for (const SpanData& s : collected.recent()) names.push_back(s.name);
  EXPECT_THAT(names, ElementsAre("span 4", "span 3", "span 2"));
}

// An exporter whose answers and pace the test controls.
class ScriptedExporter final : public SpanExporter {
 public:
  bool export_batch(const std::vector<SpanData>& spans, std::chrono::milliseconds) override {
    std::unique_lock lock(mutex_);
    batches_.push_back(spans.size());
    entered_.notify_all();
    released_.wait(lock, [&] { return !held_; });
    return accept_;
  }
  void hold() {
    std::lock_guard lock(mutex_);
    held_ = true;
  }
  void release() {
    {
      std::lock_guard lock(mutex_);
      held_ = false;
    }
    released_.notify_all();
  }
  void wait_for_batch(std::size_t n) {
    std::unique_lock lock(mutex_);
    entered_.wait(lock, [&] { return batches_.size() >= n; });
  }
  void set_accept(bool accept) {
    std::lock_guard lock(mutex_);
    accept_ = accept;
  }
  std::vector<std::size_t> batches() {
    std::lock_guard lock(mutex_);
    return batches_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable entered_, released_;
  bool held_ = false, accept_ = true;
  std::vector<std::size_t> batches_;
};

SpanData a_span(int i) {
  SpanData s;
  s.service = "api";
  s.name = "span " + std::to_string(i);
  return s;
}

TEST(BatchSpanProcessor, ExportsInBatchesOfAtMostMaxBatch) {
  ScriptedExporter exporter;
  BatchOptions options;
  options.max_batch = 4;
  options.delay = std::chrono::hours(1);  // only full batches and flushes send
  BatchSpanProcessor processor(exporter, options);
  for (int i = 0; i < 10; ++i) processor.on_end(a_span(i));
  processor.flush();
  EXPECT_THAT(exporter.batches(), ElementsAre(4u, 4u, 2u));
  EXPECT_EQ(processor.exported(), 10u);
  EXPECT_EQ(processor.dropped(), 0u);
}

TEST(BatchSpanProcessor, AFullQueueDropsAndCountsAndSaysSoOnceAMinute) {
  ScriptedExporter exporter;
  exporter.hold();  // the collector hangs
  std::mutex mutex;
  std::vector<std::string> lines;
  BatchOptions options;
  options.max_queue = 8;
  options.max_batch = 2;
  options.log = [&](const std::string& line) {
    std::lock_guard lock(mutex);
    lines.push_back(line);
  };
  {
    BatchSpanProcessor processor(exporter, options);
    processor.on_end(a_span(0));
    processor.on_end(a_span(1));
    exporter.wait_for_batch(1);  // the thread holds 2 spans in a hanging export
    for (int i = 2; i < 30; ++i) processor.on_end(a_span(i));  // 8 fit the queue, 20 do not
    EXPECT_EQ(processor.dropped(), 20u);
    exporter.release();
    processor.flush();
    EXPECT_EQ(processor.exported(), 10u);
    for (int i = 0; i < 3; ++i) processor.on_end(a_span(i));  // fits again
    processor.flush();
    EXPECT_EQ(processor.dropped(), 20u);
  }
  std::lock_guard lock(mutex);
  ASSERT_EQ(lines.size(), 1u);  // one report for the whole minute
  EXPECT_THAT(lines[0], HasSubstr("snap: tracing: 20 spans dropped"));
}

TEST(BatchSpanProcessor, ALostBatchCountsAsDroppedAndTheStopStillDrains) {
  ScriptedExporter exporter;
  exporter.set_accept(false);  // the collector answers with an error
  BatchOptions options;
  options.log = [](const std::string&) {};
  std::uint64_t dropped = 0;
  {
    BatchSpanProcessor processor(exporter, options);
    for (int i = 0; i < 5; ++i) processor.on_end(a_span(i));
    processor.flush();
    dropped = processor.dropped();
    exporter.set_accept(true);
    processor.on_end(a_span(5));
  }  // the destructor exports what is left
  EXPECT_EQ(dropped, 5u);
  EXPECT_THAT(exporter.batches(), ElementsAre(5u, 1u));
}

// A collector that hangs holds the stop for one export timeout, not one per batch left.
TEST(BatchSpanProcessor, TheStopIsBoundedWhenTheCollectorHangs) {
  // Hangs as a collector that never answers does: until the exporter's own timeout.
  class Hanging final : public SpanExporter {
   public:
    bool export_batch(const std::vector<SpanData>&, std::chrono::milliseconds timeout) override {
      timeouts.push_back(timeout);
      std::this_thread::sleep_for(timeout);
      return false;
    }
    std::vector<std::chrono::milliseconds> timeouts;  // the processor's thread's; read after it ended
  } exporter;
  BatchOptions options;
  options.max_batch = 1;
  options.export_timeout = std::chrono::milliseconds(100);
  std::vector<std::string> lines;
  options.log = [&](const std::string& line) { lines.push_back(line); };
  auto processor = std::make_unique<BatchSpanProcessor>(exporter, options);
  for (int i = 0; i < 50; ++i) processor->on_end(a_span(i));
  processor.reset();
  // An export in progress at the stop, then one timeout shared by what was left.
  std::chrono::milliseconds handed_out{0};
  for (auto t : exporter.timeouts) handed_out += t;
  EXPECT_LE(handed_out, 2 * options.export_timeout);
  ASSERT_FALSE(lines.empty());
  EXPECT_THAT(lines.back(), HasSubstr("(50 dropped in all)"));
}

TEST(OtlpJson, IsTheExportRequestWithHexIdsAndStringNanos) {
  MemoryEnv env;
  SpanCollector collected;
  Tracer tracer(env, {}, {&collected});
  SpanContext parent = *parse_traceparent(kSampled);
  {
    Span s = tracer.start("GET /api/customer/{id}", SpanKind::kServer, "customer-server-api", &parent);
    s.set("http.response.status_code", 404).set("url.path", "/api/customer/\"2\"\n").set("ratio", 0.5).set("ok", false);
    s.set("bytes", std::string("caf\xc3\xa9 \xff\xfe end"));  // valid UTF-8, then two bytes that are not
    s.set_error("not_found: no customer 2");
  }
  tracer.start("report", SpanKind::kInternal, "report-job", nullptr).end();
  const std::vector<SpanData> spans = collected.recent();
  const boost::json::value body = boost::json::parse(otlp_json({spans[1], spans[0]}));
  const auto& resources = body.at("resourceSpans").as_array();
  ASSERT_EQ(resources.size(), 2u);
  EXPECT_EQ(resources[0].at("resource").at("attributes").at(0).at("value").at("stringValue"), "customer-server-api");
  const auto& span = resources[0].at("scopeSpans").at(0).at("spans").at(0);
  EXPECT_EQ(span.at("traceId"), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(span.at("parentSpanId"), "00f067aa0ba902b7");
  EXPECT_EQ(span.at("spanId").as_string().size(), 16u);
  EXPECT_EQ(span.at("kind"), 2);
  EXPECT_EQ(span.at("status").at("code"), 2);
  EXPECT_EQ(span.at("status").at("message"), "not_found: no customer 2");
  EXPECT_TRUE(span.at("startTimeUnixNano").is_string());
  const auto& attributes = span.at("attributes").as_array();
  EXPECT_EQ(attributes.at(0).at("value").at("intValue"), "404");
  EXPECT_EQ(attributes.at(1).at("value").at("stringValue"), "/api/customer/\"2\"\n");
  EXPECT_EQ(attributes.at(2).at("value").at("doubleValue"), 0.5);
  EXPECT_EQ(attributes.at(3).at("value").at("boolValue"), false);
  EXPECT_EQ(attributes.at(4).at("value").at("stringValue"), "caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd end");
  const auto& job = resources[1].at("scopeSpans").at(0).at("spans").at(0);
  EXPECT_FALSE(job.as_object().contains("parentSpanId"));
  EXPECT_FALSE(job.as_object().contains("status"));
}

}  // namespace
}  // namespace snap
