#include "snap/trace.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>

#include "snap/env.h"
#include "snap/json_text.h"

namespace snap {

namespace {

constexpr char kHex[] = "0123456789abcdef";

template <std::size_t N>
std::string hex_of(const std::array<std::uint8_t, N>& bytes) {
  std::string out(2 * N, '0');
  for (std::size_t i = 0; i < N; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 15];
  }
  return out;
}

int lower_hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // W3C: upper-case hex is invalid
}

template <std::size_t N>
bool parse_hex(std::string_view text, std::array<std::uint8_t, N>& out) {
  if (text.size() != 2 * N) return false;
  for (std::size_t i = 0; i < N; ++i) {
    const int hi = lower_hex_digit(text[2 * i]), lo = lower_hex_digit(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& bytes) {
  for (std::uint8_t b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

// splitmix64: ids need to be unique and unpredictable enough to not collide across
// processes, not secret; one draw of real randomness per tracer seeds it.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

void put_u64(std::uint8_t* out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<std::uint8_t>(v);
    v >>= 8;
  }
}

thread_local const ActiveSpan* t_current = nullptr;

}  // namespace

bool TraceId::valid() const { return !all_zero(bytes); }
std::string TraceId::hex() const { return hex_of(bytes); }
bool SpanId::valid() const { return !all_zero(bytes); }
std::string SpanId::hex() const { return hex_of(bytes); }

std::optional<SpanContext> parse_traceparent(std::string_view header, std::string_view tracestate) {
  // version "-" trace-id "-" parent-id "-" flags: 2 + 1 + 32 + 1 + 16 + 1 + 2 = 55.
  constexpr std::size_t kLength = 55;
  if (header.size() < kLength) return std::nullopt;
  std::array<std::uint8_t, 1> version{}, flags{};
  if (!parse_hex(header.substr(0, 2), version) || version[0] == 0xff) return std::nullopt;
  // Version 00 is exactly this long; a later version may append fields after a dash.
  if (version[0] == 0 ? header.size() != kLength : header.size() > kLength && header[kLength] != '-') {
    return std::nullopt;
  }
  if (header[2] != '-' || header[35] != '-' || header[52] != '-') return std::nullopt;
  SpanContext c;
  if (!parse_hex(header.substr(3, 32), c.trace_id.bytes) || !parse_hex(header.substr(36, 16), c.span_id.bytes) ||
      !parse_hex(header.substr(53, 2), flags) || !c.valid()) {
    return std::nullopt;
  }
  c.sampled = (flags[0] & 1) != 0;
  if (tracestate.size() <= 512) c.trace_state = std::string(tracestate);
  return c;
}

std::string traceparent_of(const SpanContext& context) {
  return "00-" + context.trace_id.hex() + "-" + context.span_id.hex() + (context.sampled ? "-01" : "-00");
}

TraceConfig trace_config_from(Env& env, std::vector<std::string>* warnings) {
  TraceConfig config;
  const auto warn = [&](const std::string& line) {
    if (warnings != nullptr) warnings->push_back(line);
  };
  const std::optional<std::string> name = env.variable("OTEL_TRACES_SAMPLER");
  if (name && !name->empty()) {
    static const std::map<std::string, Sampler, std::less<>> kSamplers = {
        {"always_on", Sampler::kAlwaysOn},
        {"always_off", Sampler::kAlwaysOff},
        {"traceidratio", Sampler::kTraceIdRatio},
        {"parentbased_always_on", Sampler::kParentBasedAlwaysOn},
        {"parentbased_always_off", Sampler::kParentBasedAlwaysOff},
        {"parentbased_traceidratio", Sampler::kParentBasedTraceIdRatio},
    };
    if (auto it = kSamplers.find(*name); it != kSamplers.end()) {
      config.sampler = it->second;
    } else {
      warn("OTEL_TRACES_SAMPLER=" + *name +
           " is not a sampler this program has (always_on, always_off, traceidratio, parentbased_always_on, "
           "parentbased_always_off, parentbased_traceidratio): using parentbased_always_on");
    }
  }
  if (config.sampler == Sampler::kTraceIdRatio || config.sampler == Sampler::kParentBasedTraceIdRatio) {
    const std::optional<std::string> arg = env.variable("OTEL_TRACES_SAMPLER_ARG");
    if (arg && !arg->empty()) {
      char* end = nullptr;
      const double ratio = std::strtod(arg->c_str(), &end);
      if (end != arg->c_str() + arg->size() || !(ratio >= 0.0 && ratio <= 1.0)) {
        warn("OTEL_TRACES_SAMPLER_ARG=" + *arg + " is not a ratio in [0, 1]: using 1.0");
      } else {
        config.ratio = ratio;
      }
    }
  }
  return config;
}

BatchOptions batch_options_from(Env& env, BatchOptions options, std::vector<std::string>* warnings) {
  const auto positive = [&](const char* name) -> std::optional<std::uint64_t> {
    const std::optional<std::string> text = env.variable(name);
    if (!text || text->empty()) return std::nullopt;
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (error != std::errc() || end != text->data() + text->size() || value == 0) {
      if (warnings != nullptr) warnings->push_back(std::string(name) + "=" + *text + " is not a positive integer: using the default");
      return std::nullopt;
    }
    return value;
  };
  if (auto v = positive("OTEL_BSP_SCHEDULE_DELAY")) options.delay = std::chrono::milliseconds(*v);
  if (auto v = positive("OTEL_BSP_EXPORT_TIMEOUT")) options.export_timeout = std::chrono::milliseconds(*v);
  if (auto v = positive("OTEL_BSP_MAX_QUEUE_SIZE")) options.max_queue = *v;
  if (auto v = positive("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")) {
    if (*v > options.max_queue) {
      if (warnings != nullptr) {
        warnings->push_back("OTEL_BSP_MAX_EXPORT_BATCH_SIZE=" + std::to_string(*v) +
                            " is larger than the queue (" + std::to_string(options.max_queue) + "): using the queue's size");
      }
      options.max_batch = options.max_queue;
    } else {
      options.max_batch = *v;
    }
  }
  return options;
}

// ---- Span ----

Span::Span(Span&& other) noexcept
    : tracer_(other.tracer_), data_(std::move(other.data_)), context_(std::move(other.context_)) {
  other.tracer_ = nullptr;
}

Span& Span::operator=(Span&& other) noexcept {
  if (this != &other) {
    end();
    tracer_ = other.tracer_;
    data_ = std::move(other.data_);
    context_ = std::move(other.context_);
    other.tracer_ = nullptr;
  }
  return *this;
}

Span& Span::set_attribute(std::string_view key, AttributeValue value) {
  if (data_ == nullptr) return *this;
  for (Attribute& a : data_->attributes) {
    if (a.key == key) {
      a.value = std::move(value);
      return *this;
    }
  }
  data_->attributes.push_back({std::string(key), std::move(value)});
  return *this;
}

void Span::set_error(std::string_view message) {
  if (data_ == nullptr) return;
  data_->error = true;
  data_->status_message = std::string(message);
}

void Span::end() {
  if (data_ == nullptr) return;
  const std::unique_ptr<SpanData> data = std::move(data_);
  tracer_->finish(*data);
}

// ---- Tracer ----

Tracer::Tracer(Env& env, TraceConfig config, std::vector<SpanSink*> sinks)
    : env_(env), config_(config), sinks_(std::move(sinks)) {
  env_.random_bytes(&seed_, sizeof seed_);
}

Tracer::~Tracer() = default;

std::uint64_t Tracer::next_random() const {
  std::uint64_t r;
  do {
    r = mix(seed_ + counter_.fetch_add(1, std::memory_order_relaxed) * 0x9e3779b97f4a7c15ull);
  } while (r == 0);  // an all-zero id is invalid
  return r;
}

bool Tracer::sample_root(const TraceId& id) const {
  if (config_.ratio >= 1.0) return true;
  if (config_.ratio <= 0.0) return false;
  // The trace id's low 8 bytes against the ratio's share of 2^64: every process that sees
  // the same trace id decides alike.
  std::uint64_t low = 0;
  for (std::size_t i = 8; i < 16; ++i) low = low << 8 | id.bytes[i];
  return static_cast<double>(low) < config_.ratio * 18446744073709551616.0;
}

Span Tracer::start(std::string_view name, SpanKind kind, std::string_view service, const SpanContext* parent) const {
  Span span;
  span.tracer_ = this;
  const bool has_parent = parent != nullptr && parent->valid();
  SpanContext& c = span.context_;
  if (has_parent) {
    c.trace_id = parent->trace_id;
    c.trace_state = parent->trace_state;
  } else {
    put_u64(c.trace_id.bytes.data(), next_random());
    put_u64(c.trace_id.bytes.data() + 8, next_random());
  }
  put_u64(c.span_id.bytes.data(), next_random());
  switch (config_.sampler) {
    case Sampler::kAlwaysOn: c.sampled = true; break;
    case Sampler::kAlwaysOff: c.sampled = false; break;
    case Sampler::kTraceIdRatio: c.sampled = sample_root(c.trace_id); break;
    case Sampler::kParentBasedAlwaysOn: c.sampled = has_parent ? parent->sampled : true; break;
    case Sampler::kParentBasedAlwaysOff: c.sampled = has_parent && parent->sampled; break;
    case Sampler::kParentBasedTraceIdRatio: c.sampled = has_parent ? parent->sampled : sample_root(c.trace_id); break;
  }
  if (c.sampled && !sinks_.empty()) {
    span.data_ = std::make_unique<SpanData>();
    SpanData& d = *span.data_;
    d.service = std::string(service);
    d.context = c;
    if (has_parent) d.parent = parent->span_id;
    d.name = std::string(name);
    d.kind = kind;
    d.attributes.reserve(8);  // the library's spans set up to 7: one allocation, not four
    d.start = env_.wall_now();
  }
  return span;
}

void Tracer::finish(SpanData& data) const {
  data.end = env_.wall_now();
  // Every sink but the last gets a copy; the last, the span itself.
  for (std::size_t i = 0; i + 1 < sinks_.size(); ++i) sinks_[i]->on_end(data);
  sinks_.back()->on_end(std::move(data));
}

// ---- the current span ----

ActiveSpan::ActiveSpan(Span& span, const Tracer& tracer, std::string_view service)
    : span_(span), tracer_(tracer), service_(service), previous_(t_current) {
  t_current = this;
}

ActiveSpan::~ActiveSpan() { t_current = previous_; }

NoCurrentSpan::NoCurrentSpan() : previous_(t_current) { t_current = nullptr; }
NoCurrentSpan::~NoCurrentSpan() { t_current = previous_; }

Span* current_span() { return t_current != nullptr ? &t_current->span_ : nullptr; }

const SpanContext* current_span_context() { return t_current != nullptr ? &t_current->span_.context() : nullptr; }

Span start_child_span(std::string_view name, SpanKind kind) {
  const ActiveSpan* active = t_current;
  if (active == nullptr) return Span();
  return active->tracer_.start(name, kind, active->service_, &active->span_.context());
}

// ---- SpanCollector ----

void SpanCollector::on_end(SpanData span) {
  std::lock_guard lock(mutex_);
  spans_.push_front(std::move(span));
  while (spans_.size() > capacity_) spans_.pop_back();
}

std::vector<SpanData> SpanCollector::recent() const {
  std::lock_guard lock(mutex_);
  return {spans_.begin(), spans_.end()};
}

std::vector<SpanData> SpanCollector::trace(const TraceId& id) const {
  std::lock_guard lock(mutex_);
  std::vector<SpanData> out;
  for (auto it = spans_.rbegin(); it != spans_.rend(); ++it) {
    if (it->context.trace_id == id) out.push_back(*it);
  }
  return out;
}

// ---- BatchSpanProcessor ----

BatchSpanProcessor::BatchSpanProcessor(SpanExporter& exporter, BatchOptions options)
    : exporter_(exporter), options_(std::move(options)), thread_([this] { run(); }) {}

BatchSpanProcessor::~BatchSpanProcessor() {
  const auto deadline = std::chrono::steady_clock::now() + options_.export_timeout;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    stop_deadline_ = deadline;
  }
  exporter_.stop_by(deadline);  // an export in progress ends by then too
  wake_.notify_all();
  thread_.join();
}

void BatchSpanProcessor::on_end(SpanData span) {
  bool full_batch = false;
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= options_.max_queue) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    queue_.push_back(std::move(span));
    full_batch = queue_.size() == options_.max_batch;
  }
  if (full_batch) wake_.notify_one();
}

void BatchSpanProcessor::flush() {
  std::unique_lock lock(mutex_);
  const std::uint64_t ticket = ++flush_requested_;
  wake_.notify_one();
  flushed_.wait(lock, [&] { return flush_done_ >= ticket || stopping_; });
}

void BatchSpanProcessor::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait_for(lock, options_.delay, [&] {
      return stopping_ || queue_.size() >= options_.max_batch || flush_requested_ > flush_done_;
    });
    // Everything queued now goes out before a flush asked now is answered, and before
    // the processor stops.
    const std::uint64_t flush_target = flush_requested_;
    while (!queue_.empty()) {
      // Stopping, what is still queued shares one export timeout in all, not one per
      // batch, so that a process with a hung collector still exits in time.
      auto timeout = options_.export_timeout;
      if (stopping_) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(stop_deadline_ -
                                                                                std::chrono::steady_clock::now());
        if (left <= std::chrono::milliseconds(0)) {  // out of time: the rest is lost, and counted
          dropped_.fetch_add(queue_.size(), std::memory_order_relaxed);
          queue_.clear();
          break;
        }
        timeout = std::min(timeout, left);
      }
      std::vector<SpanData> batch;
      const std::size_t n = std::min(queue_.size(), options_.max_batch);
      batch.reserve(n);
      for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      lock.unlock();
      bool sent = false;
      try {
        sent = exporter_.export_batch(batch, timeout);
      } catch (const std::exception&) {  // an exporter's failure is a lost batch, never the caller's
        sent = false;
      }
      (sent ? exported_ : dropped_).fetch_add(batch.size(), std::memory_order_relaxed);
      report_losses(false);
      lock.lock();
      if (!stopping_ && queue_.size() < options_.max_batch && flush_requested_ == flush_done_) break;
    }
    flush_done_ = flush_target;
    flushed_.notify_all();
    if (stopping_ && queue_.empty()) break;
    lock.unlock();
    report_losses(false);
    lock.lock();
  }
  lock.unlock();
  report_losses(true);
}

void BatchSpanProcessor::report_losses(bool force) {
  const std::uint64_t dropped = dropped_.load(std::memory_order_relaxed);
  if (dropped == reported_dropped_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && last_report_ != std::chrono::steady_clock::time_point{} && now - last_report_ < std::chrono::minutes(1)) {
    return;
  }
  const std::string line = "snap: tracing: " + std::to_string(dropped - reported_dropped_) +
                           " spans dropped (the export queue was full, or the collector did not take them): the "
                           "collector is slow or down; requests are not affected (" +
                           std::to_string(dropped) + " dropped in all)";
  reported_dropped_ = dropped;
  last_report_ = now;
  if (options_.log) {
    options_.log(line);
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
}

// ---- OTLP/JSON ----

namespace {

// Appends without temporaries: the exporter's thread shares the machine with requests.
void append_int(std::string& out, std::int64_t v) {
  char text[24];
  const auto [end, error] = std::to_chars(text, text + sizeof text, v);
  (void)error;  // 24 characters hold any int64
  out.append(text, end);
}

template <std::size_t N>
void append_hex(std::string& out, const std::array<std::uint8_t, N>& bytes) {
  for (std::uint8_t b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
}

void append_nanos(std::string& out, std::chrono::system_clock::time_point t) {
  out += '"';
  append_int(out, std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
  out += '"';
}

void append_value(std::string& out, const AttributeValue& value) {
  if (const auto* s = std::get_if<std::string>(&value)) {
    out += "{\"stringValue\":";
    append_json_string(out, *s);
    out += '}';
  } else if (const auto* i = std::get_if<std::int64_t>(&value)) {
    out += "{\"intValue\":\"";  // 64-bit integers are strings in OTLP/JSON
    append_int(out, *i);
    out += "\"}";
  } else if (const auto* d = std::get_if<double>(&value)) {
    if (std::isnan(*d)) {
      out += "{\"doubleValue\":\"NaN\"}";
    } else if (std::isinf(*d)) {
      out += *d > 0 ? "{\"doubleValue\":\"Infinity\"}" : "{\"doubleValue\":\"-Infinity\"}";
    } else {
      char text[32];
      std::snprintf(text, sizeof text, "%.17g", *d);
      out += "{\"doubleValue\":";
      out += text;
      out += '}';
    }
  } else {
    out += std::get<bool>(value) ? "{\"boolValue\":true}" : "{\"boolValue\":false}";
  }
}

void append_attributes(std::string& out, const std::vector<Attribute>& attributes) {
  out += '[';
  for (std::size_t i = 0; i < attributes.size(); ++i) {
    if (i > 0) out += ',';
    out += "{\"key\":";
    append_json_string(out, attributes[i].key);
    out += ",\"value\":";
    append_value(out, attributes[i].value);
    out += '}';
  }
  out += ']';
}

void append_span(std::string& out, const SpanData& s) {
  out += "{\"traceId\":\"";
  append_hex(out, s.context.trace_id.bytes);
  out += "\",\"spanId\":\"";
  append_hex(out, s.context.span_id.bytes);
  out += '"';
  if (s.parent.valid()) {
    out += ",\"parentSpanId\":\"";
    append_hex(out, s.parent.bytes);
    out += '"';
  }
  if (!s.context.trace_state.empty()) {
    out += ",\"traceState\":";
    append_json_string(out, s.context.trace_state);
  }
  out += ",\"name\":";
  append_json_string(out, s.name);
  out += ",\"kind\":";
  append_int(out, static_cast<int>(s.kind));
  out += ",\"startTimeUnixNano\":";
  append_nanos(out, s.start);
  out += ",\"endTimeUnixNano\":";
  append_nanos(out, s.end);
  out += ",\"attributes\":";
  append_attributes(out, s.attributes);
  if (s.error) {
    out += ",\"status\":{\"code\":2,\"message\":";
    append_json_string(out, s.status_message);
    out += '}';
  }
  out += '}';
}

}  // namespace

std::string otlp_json(const std::vector<SpanData>& spans) {
  std::string out;
  out.reserve(64 + spans.size() * 640);  // a typical span's JSON, so that it grows once at most
  // Services in the order they first appear, each with its spans in order.
  std::vector<std::string> services;
  std::map<std::string, std::vector<const SpanData*>, std::less<>> by_service;
  for (const SpanData& s : spans) {
    auto [it, added] = by_service.try_emplace(s.service);
    if (added) services.push_back(s.service);
    it->second.push_back(&s);
  }
  out += "{\"resourceSpans\":[";
  for (std::size_t i = 0; i < services.size(); ++i) {
    if (i > 0) out += ',';
    out += "{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":";
    append_json_string(out, services[i]);
    out += "}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"snapshot\"},\"spans\":[";
    const auto& list = by_service.find(services[i])->second;
    for (std::size_t k = 0; k < list.size(); ++k) {
      if (k > 0) out += ',';
      append_span(out, *list[k]);
    }
    out += "]}]}";
  }
  out += "]}";
  return out;
}

}  // namespace snap
