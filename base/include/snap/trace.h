// Traces: what a request did across personas, as OpenTelemetry models it. A trace is a
// tree of spans (one unit of work each: a handled request, a call to another server, a
// store operation); every span names its trace and its parent, and W3C Trace Context
// (the `traceparent` and `tracestate` headers) carries the pair across processes.
//
// The library starts spans where work enters or leaves our code -- an ApiServer handling
// a request, a typed endpoint call, a store operation, a Job or CliCommand run, a Worker
// tick, a membrane call -- so a program is traced with no code of its own. A body adds to
// the span it runs in, or starts children of it, through its context:
//
//   snap::Span& span = ctx.span();                 // the request's (or the run's) span
//   span.set("customer.tier", "gold");
//   {
//     snap::Span pricing = ctx.start_span("price the order");
//     pricing.set("items", std::int64_t{3});
//   }                                              // ends here
//
// Pieces:
//  - Tracer: makes spans for one app: ids (random from the Env once, then a fast
//    generator), the sampling decision (TraceConfig: OTEL_TRACES_SAMPLER's samplers), start
//    and end times from the Env's clock, and hands every ended, sampled span to its sinks.
//  - Span: a move-only handle that ends the span when destroyed. An unsampled span still
//    has a context to pass on (so the rest of the trace is not sampled either) but records
//    nothing and costs no allocation.
//  - ActiveSpan: makes a span the current one of this thread for a scope; spans started
//    without an explicit parent (start_child_span) become its children. This is how a
//    store operation deep in a handler finds its request without being handed anything.
//  - SpanSink: where ended spans go. BatchSpanProcessor (below) queues them for an exporter
//    off the request path; SpanCollector keeps recent ones in memory (dev, tests).
//
// Thread safety: a Tracer, its sinks and the processors are safe from any thread. A Span
// is used by one thread at a time. The current span is per thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <variant>
#include <vector>

namespace snap {

class Env;

struct TraceId {
  std::array<std::uint8_t, 16> bytes{};
  bool valid() const;  // W3C: all zeros is invalid
  std::string hex() const;
  friend bool operator==(const TraceId&, const TraceId&) = default;
};

struct SpanId {
  std::array<std::uint8_t, 8> bytes{};
  bool valid() const;
  std::string hex() const;
  friend bool operator==(const SpanId&, const SpanId&) = default;
};

// What identifies a span to others: its trace, itself, whether the trace is sampled, and
// the vendors' tracestate, passed on unchanged.
struct SpanContext {
  TraceId trace_id;
  SpanId span_id;
  bool sampled = false;
  std::string trace_state;
  bool valid() const { return trace_id.valid() && span_id.valid(); }
};

// W3C Trace Context (version 00): `traceparent` is 00-<32 hex>-<16 hex>-<2 hex flags>.
// nullopt for anything else (wrong length, upper-case hex, all-zero ids, version ff); a
// later version's longer header is read by its first four fields, as the spec asks.
// `tracestate` is kept when at most 512 bytes (the spec lets longer ones be dropped).
std::optional<SpanContext> parse_traceparent(std::string_view traceparent, std::string_view tracestate = {});
std::string traceparent_of(const SpanContext& context);

// OTLP's numbering.
enum class SpanKind { kInternal = 1, kServer = 2, kClient = 3 };

using AttributeValue = std::variant<std::string, std::int64_t, double, bool>;
struct Attribute {
  std::string key;
  AttributeValue value;
};

// An ended span, as sinks receive it.
struct SpanData {
  std::string service;  // the resource's service.name: the persona's service
  SpanContext context;
  SpanId parent;  // invalid for a root
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  std::chrono::system_clock::time_point start, end;
  std::vector<Attribute> attributes;
  bool error = false;          // OTLP status ERROR
  std::string status_message;  // with error: what went wrong
};

// Where ended spans go. on_end is called on the thread that ended the span, so it must be
// quick (queue, don't send); it gets the span to keep (the last sink its data, others a
// copy). Thread-safe.
class SpanSink {
 public:
  virtual ~SpanSink() = default;
  virtual void on_end(SpanData span) = 0;
};

// OTEL_TRACES_SAMPLER's samplers. Parent-based ones follow a sampled flag that came
// with the request, and decide only for roots.
enum class Sampler {
  kAlwaysOn,
  kAlwaysOff,
  kTraceIdRatio,
  kParentBasedAlwaysOn,  // the default, as OpenTelemetry's
  kParentBasedAlwaysOff,
  kParentBasedTraceIdRatio,
};

struct TraceConfig {
  Sampler sampler = Sampler::kParentBasedAlwaysOn;
  double ratio = 1.0;  // for the ratio samplers: the share of roots sampled, in [0, 1]
};

// OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG from `env`. An unknown sampler or a
// ratio that is not a number in [0, 1] leaves the default and adds a line to `warnings`
// (the SDK specification: a bad value is not fatal).
TraceConfig trace_config_from(Env& env, std::vector<std::string>* warnings = nullptr);

class Tracer;

class Span {
 public:
  Span() = default;  // no span: records nothing, has no context
  Span(Span&& other) noexcept;
  Span& operator=(Span&& other) noexcept;
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;
  ~Span() { end(); }

  // Sampled and not ended: attributes are kept.
  bool recording() const { return data_ != nullptr; }
  // Valid for every span a Tracer started, sampled or not.
  const SpanContext& context() const { return context_; }

  // An attribute (a later value for the same key replaces it). Integers are kept as
  // int64, floating point as double.
  Span& set(std::string_view key, std::string_view value) { return set_attribute(key, std::string(value)); }
  Span& set(std::string_view key, const std::string& value) { return set_attribute(key, value); }
  Span& set(std::string_view key, const char* value) { return set_attribute(key, std::string(value)); }
  template <typename T>
    requires std::is_arithmetic_v<T>
  Span& set(std::string_view key, T value) {
    if constexpr (std::is_same_v<T, bool>) {
      return set_attribute(key, value);
    } else if constexpr (std::is_integral_v<T>) {
      return set_attribute(key, static_cast<std::int64_t>(value));
    } else {
      return set_attribute(key, static_cast<double>(value));
    }
  }
  Span& set_attribute(std::string_view key, AttributeValue value);
  // Marks the span failed (OTLP status ERROR) with what went wrong.
  void set_error(std::string_view message);
  // Ends it now (the destructor does otherwise); later calls do nothing.
  void end();

 private:
  friend class Tracer;
  const Tracer* tracer_ = nullptr;
  std::unique_ptr<SpanData> data_;  // null when not recording
  SpanContext context_;
};

class Tracer {
 public:
  // `env` gives the clock and the generator's seed; `sinks` receive every ended, sampled
  // span. Both must outlive the tracer. With no sink, no span records (contexts are still
  // made and passed on).
  Tracer(Env& env, TraceConfig config, std::vector<SpanSink*> sinks);
  ~Tracer();
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  // A span of `service`, child of `parent` (a remote or local span's context), or a root
  // when `parent` is null or invalid.
  Span start(std::string_view name, SpanKind kind, std::string_view service, const SpanContext* parent) const;
  const TraceConfig& config() const { return config_; }

 private:
  friend class Span;
  void finish(SpanData& data) const;
  std::uint64_t next_random() const;
  bool sample_root(const TraceId& id) const;

  Env& env_;
  const TraceConfig config_;
  const std::vector<SpanSink*> sinks_;
  std::uint64_t seed_ = 0;
  mutable std::atomic<std::uint64_t> counter_{0};
};

// Makes `span` the current span of this thread until destroyed, and the previous one
// current again after. `span` must outlive the scope.
// `service` is the name child spans report under; it must outlive the scope too.
class ActiveSpan {
 public:
  ActiveSpan(Span& span, const Tracer& tracer, std::string_view service);
  ~ActiveSpan();
  ActiveSpan(const ActiveSpan&) = delete;
  ActiveSpan& operator=(const ActiveSpan&) = delete;

 private:
  friend Span* current_span();
  friend const SpanContext* current_span_context();
  friend class NoCurrentSpan;
  friend Span start_child_span(std::string_view name, SpanKind kind);
  Span& span_;
  const Tracer& tracer_;
  const std::string_view service_;
  const ActiveSpan* const previous_;
};

// The current span of this thread, or null when none is active.
Span* current_span();
const SpanContext* current_span_context();

// No span is current on this thread for the scope (the one before comes back after): for
// work that another span already stands for (a recorded request's store operation is its
// recording view's span, not the real store's too).
class NoCurrentSpan {
 public:
  NoCurrentSpan();
  ~NoCurrentSpan();
  NoCurrentSpan(const NoCurrentSpan&) = delete;
  NoCurrentSpan& operator=(const NoCurrentSpan&) = delete;

 private:
  const ActiveSpan* const previous_;
};

// A child of this thread's current span, of the same service; no span (not recording,
// no context) when none is active: work outside any traced request is not traced.
Span start_child_span(std::string_view name, SpanKind kind);
inline Span start_child_span(std::string_view name) { return start_child_span(name, SpanKind::kInternal); }

// Keeps the most recent ended spans in memory, newest first: what `dev` shows and what
// tests read. Holds at most `capacity`; the oldest go first. Thread-safe.
class SpanCollector final : public SpanSink {
 public:
  explicit SpanCollector(std::size_t capacity = 4096) : capacity_(capacity) {}
  void on_end(SpanData span) override;
  std::vector<SpanData> recent() const;  // newest first
  std::vector<SpanData> trace(const TraceId& id) const;  // oldest first

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::deque<SpanData> spans_;  // newest at the front
};

// Sends batches of spans somewhere (OTLP over HTTP). Called from one thread at a time.
class SpanExporter {
 public:
  virtual ~SpanExporter() = default;
  // True when the batch was accepted; false when it was lost (logged by the processor).
  // Returns within `timeout`, and by a stop_by() deadline.
  virtual bool export_batch(const std::vector<SpanData>& spans, std::chrono::milliseconds timeout) = 0;
  // The processor is stopping: an export in progress, and any later one, must end by
  // `deadline`. Called from another thread than export_batch's, at most once.
  virtual void stop_by(std::chrono::steady_clock::time_point deadline) { (void)deadline; }
};

// The SDK's BatchSpanProcessor: ended spans wait in a bounded queue and a thread of its own
// exports them in batches, so a request never waits for the collector. When the queue is
// full (the collector slow or down) a span is dropped and counted, and the drop is logged
// at most once a minute.
struct BatchOptions {
  std::size_t max_queue = 2048;                  // OTEL_BSP_MAX_QUEUE_SIZE's default
  std::size_t max_batch = 512;                   // OTEL_BSP_MAX_EXPORT_BATCH_SIZE
  std::chrono::milliseconds delay{5000};         // OTEL_BSP_SCHEDULE_DELAY: the longest a span waits
  std::chrono::milliseconds export_timeout{30000};  // OTEL_BSP_EXPORT_TIMEOUT
  // Where the once-a-minute line about dropped or lost spans goes. Empty: stderr.
  std::function<void(const std::string& line)> log;
};

// The standard variables OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_EXPORT_TIMEOUT (milliseconds),
// OTEL_BSP_MAX_QUEUE_SIZE and OTEL_BSP_MAX_EXPORT_BATCH_SIZE over `defaults`. A value that
// is not a positive integer (or a batch larger than the queue) leaves the default and adds
// a line to `warnings`.
BatchOptions batch_options_from(Env& env, BatchOptions defaults = {}, std::vector<std::string>* warnings = nullptr);

class BatchSpanProcessor final : public SpanSink {
 public:
  // `exporter` must outlive the processor.
  BatchSpanProcessor(SpanExporter& exporter, BatchOptions options = {});
  // Exports what is queued, then stops its thread, within export_timeout whatever the
  // collector does (the exporter is told the deadline: SpanExporter::stop_by); what did
  // not go out by then is dropped and counted.
  ~BatchSpanProcessor() override;
  void on_end(SpanData span) override;
  // Spans dropped because the queue was full, and spans in batches the exporter lost.
  std::uint64_t dropped() const { return dropped_.load(); }
  std::uint64_t exported() const { return exported_.load(); }
  // Exports everything queued before the call; returns once done (tests, shutdown).
  void flush();

 private:
  void run();
  void report_losses(bool force);

  SpanExporter& exporter_;
  const BatchOptions options_;
  std::mutex mutex_;
  std::condition_variable wake_;      // the thread: a full batch, a flush, or the stop
  std::condition_variable flushed_;   // flush(): the thread caught up
  std::deque<SpanData> queue_;        // guarded by mutex_, as the three below
  bool stopping_ = false;
  std::chrono::steady_clock::time_point stop_deadline_{};  // with stopping_
  std::uint64_t flush_requested_ = 0, flush_done_ = 0;
  std::atomic<std::uint64_t> dropped_{0}, exported_{0};
  std::uint64_t reported_dropped_ = 0;  // the thread's
  std::chrono::steady_clock::time_point last_report_{};
  std::thread thread_;
};

// OTLP/JSON: the body of one POST to /v1/traces (an ExportTraceServiceRequest), spans
// grouped by service into resourceSpans. Ids are hex, times and 64-bit integers decimal
// strings, as the OTLP/JSON mapping asks.
std::string otlp_json(const std::vector<SpanData>& spans);

}  // namespace snap
