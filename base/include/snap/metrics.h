// Prometheus metrics: counters, gauges and histograms kept in a MetricsRegistry and written
// in Prometheus' text exposition format 0.0.4 for a /metrics endpoint. API servers, HTTP
// clients, stores and the trace exporter report through one registry per app.
//
// The shape is client_golang's: a registry owns families, one per metric name, each with
// a fixed list of label names; a family's with(label values) is the series for one
// combination of values, as a small handle that the hot path keeps and updates:
//
//   snap::MetricsRegistry metrics;
//   snap::CounterFamily& requests = metrics.counter(
//       "snap_http_requests_total", "HTTP requests served.", {"endpoint", "code"});
//   const snap::Counter ok = requests.with({"GET /api/customer", "200"});
//   ok.inc();
//
// Names follow Prometheus' practices (prometheus docs, practices/naming.md): base units
// with a unit suffix (`_seconds`, `_bytes`), `_total` on counters, histograms for
// latencies, and label values from a small fixed set -- an endpoint, a status code, never a
// user id, a raw URL or an error message. The bound is enforced: a family holds at most
// max_series series (kDefaultMaxSeries unless set_max_series() says otherwise); past it,
// with() returns the family's overflow series, whose label values are all "__overflow__",
// and the refusal is counted in snap_metrics_series_overflow_total{metric="NAME"}. The
// metric keeps counting, just not per label, and memory and scrape size stay bounded.
//
// Errors: registration validates names against Prometheus' grammar (metric names
// [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*, a "__" prefix reserved)
// and throws std::invalid_argument naming the metric for a bad name, for a name
// registered before with another type, other label names or other buckets, and from
// with() for the wrong number of label values. A negative (or NaN) counter increment is
// a precondition violation: std::invalid_argument. Label values are any text; bytes that
// are not UTF-8 become U+FFFD, since Prometheus refuses a scrape that is not UTF-8.
//
// Thread safety: everything may be called from any thread at once. Updates through a
// handle (inc, set, add, observe) are lock-free atomics; registration and with() take a
// mutex, so keep the handle rather than calling with() per event. exposition() runs
// alongside updates: each number it writes was the value at some instant during the call
// (not all at one instant), and a histogram's _count always equals its +Inf bucket.
//
// Ownership: there is no global registry; whoever owns an app owns its registry and hands
// a reference down. Families and series are never removed, so a family reference and a
// handle stay valid as long as the registry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace snap {

// The Content-Type of exposition()'s text.
inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// Series a family holds before with() answers with its overflow series. A thousand is
// far beyond any bounded label set (endpoints x status codes) and small enough that a
// label fed by unbounded input costs at most a few hundred kilobytes and a scrape that
// Prometheus still takes in stride.
inline constexpr std::size_t kDefaultMaxSeries = 1000;

// Histogram bucket upper bounds for latencies in seconds, client_golang's DefBuckets:
// .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10 (and +Inf, which every histogram has).
std::vector<double> default_latency_buckets();

namespace metrics_internal {
class Family;  // metrics.cc
struct Cell;   // metrics.cc
}  // namespace metrics_internal

// Handles to one series. Pointer-like: cheap to copy, valid as long as the registry.
// A default-constructed handle is detached: its updates do nothing and it reads 0, so
// that a component built without a registry (a unit test) needs no branch of its own.

// Goes only up (requests served, bytes sent). Integral increments are exact up to 2^64.
class Counter {
 public:
  Counter() = default;
  void inc() const noexcept;
  // `amount` >= 0; a negative or NaN amount throws std::invalid_argument (a counter that
  // goes down reads as a restart to Prometheus' rate()).
  void inc(double amount) const;
  double value() const noexcept;

 private:
  friend class metrics_internal::Family;
  explicit Counter(metrics_internal::Cell* cell) noexcept : cell_(cell) {}
  metrics_internal::Cell* cell_ = nullptr;
};

// Goes up and down (connections open, items queued).
class Gauge {
 public:
  Gauge() = default;
  void set(double value) const noexcept;
  void add(double delta) const noexcept;  // negative to subtract
  double value() const noexcept;

 private:
  friend class metrics_internal::Family;
  explicit Gauge(metrics_internal::Cell* cell) noexcept : cell_(cell) {}
  metrics_internal::Cell* cell_ = nullptr;
};

// Counts observations into cumulative buckets by upper bound (a value equal to a bound
// is in that bucket), with their sum: latencies in seconds, sizes in bytes.
class Histogram {
 public:
  Histogram() = default;
  // A NaN is counted in the +Inf bucket only and makes the sum NaN (as client_golang).
  void observe(double value) const noexcept;
  std::uint64_t count() const noexcept;
  double sum() const noexcept;

 private:
  friend class metrics_internal::Family;
  explicit Histogram(metrics_internal::Cell* cell) noexcept : cell_(cell) {}
  metrics_internal::Cell* cell_ = nullptr;
};

// One metric name with its help, type and label names: the series for each combination
// of label values. Owned by its registry; MetricsRegistry::counter() and friends hand out
// references.
template <typename Handle>
class MetricFamily {
 public:
  MetricFamily(const MetricFamily&) = delete;
  MetricFamily& operator=(const MetricFamily&) = delete;

  // The series for these label values, in the order the label names were declared;
  // created (at zero) on first use. Past max_series the overflow series. Throws
  // std::invalid_argument when the number of values is not the number of labels.
  Handle with(std::initializer_list<std::string_view> label_values = {});
  // At most `limit` (>= 1) series besides the overflow series; lowering it keeps the
  // series that exist. Default kDefaultMaxSeries.
  void set_max_series(std::size_t limit);
  const std::string& name() const noexcept;

 private:
  friend class metrics_internal::Family;
  explicit MetricFamily(metrics_internal::Family& family) noexcept : family_(family) {}
  metrics_internal::Family& family_;
};

using CounterFamily = MetricFamily<Counter>;
using GaugeFamily = MetricFamily<Gauge>;
using HistogramFamily = MetricFamily<Histogram>;
extern template class MetricFamily<Counter>;
extern template class MetricFamily<Gauge>;
extern template class MetricFamily<Histogram>;

// Keeps a callback metric's function registered (MetricsRegistry::gauge_callback()).
// Destroying it (or moving another into it) unregisters the function, waiting for a call
// in progress, so that whatever the function reads may be destroyed next; the metric then
// disappears from the exposition. Must not outlive its registry.
class MetricCallback {
 public:
  MetricCallback() = default;
  MetricCallback(MetricCallback&& other) noexcept;
  MetricCallback& operator=(MetricCallback&& other) noexcept;
  ~MetricCallback();

 private:
  friend class MetricsRegistry;
  explicit MetricCallback(metrics_internal::Family* family) noexcept : family_(family) {}
  metrics_internal::Family* family_ = nullptr;
};

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Registers a family, or returns the one registered before under `name` when its type,
  // label names (and buckets) are the same -- its help and max_series stay the first
  // registration's. A family without labels has its one series from the start (it is
  // exposed at 0); one with labels appears once with() has made a series.
  CounterFamily& counter(std::string_view name, std::string_view help,
                         std::vector<std::string> label_names = {});
  GaugeFamily& gauge(std::string_view name, std::string_view help,
                     std::vector<std::string> label_names = {});
  // `buckets`: upper bounds, strictly increasing, finite (a last +Inf is implied and may
  // be given); "le" cannot be a label name, it is the bucket's.
  HistogramFamily& histogram(std::string_view name, std::string_view help,
                             std::vector<std::string> label_names = {},
                             std::vector<double> buckets = default_latency_buckets());

  // Metrics without labels whose value is read at exposition time (a queue's length, a
  // total kept by another library). `read` is called by exposition(), on its thread,
  // under that metric's own lock only: other metrics' updates and scrapes do not wait
  // on it, its MetricCallback's destructor does. It must be quick, and must neither call
  // exposition() nor destroy its own MetricCallback; what it throws leaves exposition().
  // One function per name at a time: registering a second while the first's
  // MetricCallback lives throws std::invalid_argument.
  [[nodiscard]] MetricCallback gauge_callback(std::string_view name, std::string_view help,
                                              std::function<double()> read);
  [[nodiscard]] MetricCallback counter_callback(std::string_view name, std::string_view help,
                                                std::function<double()> read);

  // The text exposition (kMetricsContentType): for each family with series, in name
  // order, "# HELP" (omitted for an empty help) and "# TYPE", then its series in label
  // value order (byte-wise), each histogram series as _bucket lines with "le" (+Inf
  // last), _sum and _count. Integral numbers are written without exponent, others in
  // the shortest form that parses back to the same double; +Inf, -Inf, NaN as Prometheus
  // spells them. Same registry state, same bytes.
  std::string exposition() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace snap
