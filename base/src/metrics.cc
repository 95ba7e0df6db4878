#include "snap/metrics.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <span>
#include <stdexcept>
#include <utility>

namespace snap {

std::vector<double> default_latency_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

namespace {

enum class Kind { kCounter, kGauge, kHistogram, kCounterCallback, kGaugeCallback };

std::string_view type_name(Kind kind) {
  switch (kind) {
    case Kind::kCounter:
    case Kind::kCounterCallback:
      return "counter";
    case Kind::kGauge:
    case Kind::kGaugeCallback:
      return "gauge";
    case Kind::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// What a registration is called in errors: "counter", "gauge callback"...
std::string describe(Kind kind) {
  const bool callback = kind == Kind::kCounterCallback || kind == Kind::kGaugeCallback;
  return std::string(type_name(kind)) + (callback ? " callback" : "");
}

std::invalid_argument metric_error(std::string_view metric, const std::string& what) {
  return std::invalid_argument("metric \"" + std::string(metric) + "\": " + what);
}

bool is_name_start(char c, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}

// Prometheus' grammar: metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names without the
// colons; names starting "__" are Prometheus' own (__name__, __address__...).
bool is_valid_name(std::string_view name, bool colon) {
  if (name.empty() || !is_name_start(name[0], colon) || name.starts_with("__")) return false;
  return std::all_of(name.begin() + 1, name.end(),
                     [colon](char c) { return is_name_start(c, colon) || (c >= '0' && c <= '9'); });
}

// Length of the well-formed UTF-8 sequence starting at text[i], or 0 (Unicode's table 3-7:
// no overlong forms, no surrogates, nothing past U+10FFFF).
std::size_t utf8_sequence(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (text.size() - i < length || byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (std::size_t k = 2; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return length;
}

bool is_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = utf8_sequence(text, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// `text` with each byte that is not part of well-formed UTF-8 replaced by U+FFFD.
std::string to_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = utf8_sequence(text, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

// A number as Prometheus (Go's strconv.ParseFloat) reads it back exactly. Integral values
// are written as integers: the shortest form of 1000000 is "1e+06", which parses right but
// reads badly in a counter.
void append_number(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buffer[32];  // the longest shortest double is 24 characters
  std::to_chars_result end;
  if (value == std::trunc(value) && std::fabs(value) < 0x1p63) {
    end = std::to_chars(buffer, buffer + sizeof buffer, static_cast<std::int64_t>(value));
  } else {
    end = std::to_chars(buffer, buffer + sizeof buffer, value);
  }
  out.append(buffer, end.ptr);
}

void append_number(std::string& out, std::uint64_t value) {
  char buffer[24];
  const auto end = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, end.ptr);
}

// HELP text escapes backslash and newline; label values also the double quote.
void append_escaped(std::string& out, std::string_view text, bool quote) {
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// Orders series by their label values, and finds them by a span of views without
// building the key.
struct LabelValuesLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                        [](std::string_view x, std::string_view y) { return x < y; });
  }
};

constexpr std::string_view kOverflowValue = "__overflow__";

}  // namespace

namespace metrics_internal {

// One series. Aligned to a cache line so that series updated from different threads do
// not slow each other down by sharing one.
struct alignas(64) Cell {
  Cell(const Family& owner, std::size_t bucket_count) : family(owner) {
    // Value-initialised: zeros.
    if (bucket_count > 0) buckets = std::make_unique<std::atomic<std::uint64_t>[]>(bucket_count);
  }
  const Family& family;
  // Counter: the integral increments, one fetch_add each and exact to 2^64 (client_golang
  // keeps the same split).
  std::atomic<std::uint64_t> whole{0};
  // Counter: the fractional increments; gauge: its value; histogram: the sum.
  std::atomic<double> real{0.0};
  // Histogram: observations per bucket (not cumulative), the family's bounds then +Inf.
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets;
};

class Family {
 public:
  Family(Kind kind, std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds, Family* refusals)
      : kind(kind),
        name(std::move(name)),
        help(std::move(help)),
        label_names(std::move(label_names)),
        bounds(std::move(bounds)),
        refusals_(refusals) {}

  const Kind kind;
  const std::string name;
  const std::string help;
  const std::vector<std::string> label_names;
  const std::vector<double> bounds;  // histogram: ascending, finite

  // The public faces; the registry hands out the one of this family's kind.
  CounterFamily as_counter{*this};
  GaugeFamily as_gauge{*this};
  HistogramFamily as_histogram{*this};

  template <typename Handle>
  Handle handle(std::initializer_list<std::string_view> label_values) {
    return Handle(series(std::span(label_values.begin(), label_values.size())));
  }

  Cell* series(std::span<const std::string_view> values) {
    if (values.size() != label_names.size()) {
      throw metric_error(name, std::to_string(values.size()) + " label values for " +
                                   std::to_string(label_names.size()) + " labels (" + joined_labels() + ")");
    }
    if (!std::all_of(values.begin(), values.end(), is_utf8)) {
      std::vector<std::string> fixed(values.begin(), values.end());
      for (std::string& v : fixed) v = to_utf8(v);
      const std::vector<std::string_view> views(fixed.begin(), fixed.end());
      return series(views);
    }
    std::lock_guard lock(mutex_);
    if (const auto it = series_.find(values); it != series_.end()) return it->second.get();
    if (admitted_ >= max_series_) return overflow();
    ++admitted_;
    return add_series(std::vector<std::string>(values.begin(), values.end()));
  }

  void set_max_series(std::size_t limit) {
    if (limit == 0) throw metric_error(name, "max_series must be at least 1");
    std::lock_guard lock(mutex_);
    max_series_ = limit;
  }

  // Callback families: one function at a time.
  void set_callback(std::function<double()> read) {
    if (!read) throw metric_error(name, "the callback is empty");
    std::lock_guard lock(mutex_);
    if (read_) throw metric_error(name, "has a callback already (one MetricCallback at a time)");
    read_ = std::move(read);
  }
  void clear_callback() noexcept {
    std::lock_guard lock(mutex_);
    read_ = nullptr;
  }

  // Appends this family's exposition; nothing when it has no series (or no callback).
  void render(std::string& out) const {
    std::lock_guard lock(mutex_);
    if (kind == Kind::kCounterCallback || kind == Kind::kGaugeCallback) {
      if (!read_) return;
      const double value = read_();
      render_header(out);
      out += name;
      out += ' ';
      append_number(out, value);
      out += '\n';
      return;
    }
    if (series_.empty()) return;
    render_header(out);
    for (const auto& [values, cell] : series_) {
      const std::string labels = label_pairs(values);
      switch (kind) {
        case Kind::kCounter:
          out += name;
          out += braced(labels);
          out += ' ';
          // No fractional increments: the integer, exact beyond 2^53.
          if (const double real = cell->real.load(std::memory_order_relaxed); real == 0) {
            append_number(out, cell->whole.load(std::memory_order_relaxed));
          } else {
            append_number(out, static_cast<double>(cell->whole.load(std::memory_order_relaxed)) + real);
          }
          out += '\n';
          break;
        case Kind::kGauge:
          out += name;
          out += braced(labels);
          out += ' ';
          append_number(out, cell->real.load(std::memory_order_relaxed));
          out += '\n';
          break;
        case Kind::kHistogram:
          render_histogram(out, labels, *cell);
          break;
        case Kind::kCounterCallback:
        case Kind::kGaugeCallback:
          break;
      }
    }
  }

 private:
  std::string joined_labels() const {
    std::string out;
    for (const std::string& label : label_names) out += (out.empty() ? "" : ", ") + label;
    return out;
  }

  Cell* add_series(std::vector<std::string> values) {
    auto cell = std::make_unique<Cell>(*this, kind == Kind::kHistogram ? bounds.size() + 1 : 0);
    Cell* const raw = cell.get();
    series_.emplace(std::move(values), std::move(cell));
    return raw;
  }

  // A with() past max_series: counted, and answered with the overflow series, which does
  // not count against the bound (it is at most one more).
  Cell* overflow() {
    if (refusals_ != nullptr) {
      if (refused_ == nullptr) {
        // Lock order: a family, then the refusals family, which itself has none.
        const std::string_view metric = name;
        refused_ = refusals_->series(std::span(&metric, 1));
      }
      refused_->whole.fetch_add(1, std::memory_order_relaxed);
    }
    if (overflow_ == nullptr) {
      std::vector<std::string> values(label_names.size(), std::string(kOverflowValue));
      const auto it = series_.find(values);
      overflow_ = it != series_.end() ? it->second.get() : add_series(std::move(values));
    }
    return overflow_;
  }

  void render_header(std::string& out) const {
    if (!help.empty()) {
      out += "# HELP ";
      out += name;
      out += ' ';
      append_escaped(out, help, false);
      out += '\n';
    }
    out += "# TYPE ";
    out += name;
    out += ' ';
    out += type_name(kind);
    out += '\n';
  }

  // `a="x",b="y"`: the series' labels without braces, so a histogram can add "le".
  std::string label_pairs(const std::vector<std::string>& values) const {
    std::string out;
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i > 0) out += ',';
      out += label_names[i];
      out += "=\"";
      append_escaped(out, values[i], true);
      out += '"';
    }
    return out;
  }

  static std::string braced(const std::string& pairs) { return pairs.empty() ? pairs : "{" + pairs + "}"; }

  void render_histogram(std::string& out, const std::string& labels, const Cell& cell) const {
    const std::string bucket_prefix = name + "_bucket{" + labels + (labels.empty() ? "" : ",") + "le=\"";
    // _count is the sum of the buckets read here, not a counter of its own: Prometheus
    // requires it to equal the +Inf bucket, which a separate count read a moment later
    // would not be while observations go on.
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= bounds.size(); ++i) {
      cumulative += cell.buckets[i].load(std::memory_order_relaxed);
      out += bucket_prefix;
      if (i < bounds.size()) {
        append_number(out, bounds[i]);
      } else {
        out += "+Inf";
      }
      out += "\"} ";
      append_number(out, cumulative);
      out += '\n';
    }
    out += name + "_sum" + braced(labels) + ' ';
    append_number(out, cell.real.load(std::memory_order_relaxed));
    out += '\n';
    out += name + "_count" + braced(labels) + ' ';
    append_number(out, cumulative);
    out += '\n';
  }

  Family* const refusals_;  // the registry's overflow counter family; null for itself
  mutable std::mutex mutex_;
  // Guarded by mutex_:
  std::size_t max_series_ = kDefaultMaxSeries;
  std::size_t admitted_ = 0;  // series created below the bound (not the overflow series)
  std::map<std::vector<std::string>, std::unique_ptr<Cell>, LabelValuesLess> series_;
  Cell* overflow_ = nullptr;  // this family's overflow series, once a with() was refused
  Cell* refused_ = nullptr;   // this family's series in the refusals family
  std::function<double()> read_;
};

}  // namespace metrics_internal

using metrics_internal::Cell;
using metrics_internal::Family;

// ---- handles ----

void Counter::inc() const noexcept {
  if (cell_ != nullptr) cell_->whole.fetch_add(1, std::memory_order_relaxed);
}

void Counter::inc(double amount) const {
  if (cell_ == nullptr) return;
  if (!(amount >= 0)) {
    std::string shown;
    append_number(shown, amount);
    throw metric_error(cell_->family.name,
                       "counter increment " + shown + " (a counter only goes up; a gauge goes both ways)");
  }
  if (amount < 0x1p64 && amount == std::trunc(amount)) {
    cell_->whole.fetch_add(static_cast<std::uint64_t>(amount), std::memory_order_relaxed);
  } else {
    cell_->real.fetch_add(amount, std::memory_order_relaxed);
  }
}

double Counter::value() const noexcept {
  if (cell_ == nullptr) return 0;
  return static_cast<double>(cell_->whole.load(std::memory_order_relaxed)) +
         cell_->real.load(std::memory_order_relaxed);
}

void Gauge::set(double value) const noexcept {
  if (cell_ != nullptr) cell_->real.store(value, std::memory_order_relaxed);
}

void Gauge::add(double delta) const noexcept {
  if (cell_ != nullptr) cell_->real.fetch_add(delta, std::memory_order_relaxed);
}

double Gauge::value() const noexcept { return cell_ == nullptr ? 0 : cell_->real.load(std::memory_order_relaxed); }

void Histogram::observe(double value) const noexcept {
  if (cell_ == nullptr) return;
  const std::vector<double>& bounds = cell_->family.bounds;
  // The first bound >= value: "le" is inclusive. NaN is <= nothing: the +Inf bucket.
  const auto bucket =
      std::partition_point(bounds.begin(), bounds.end(), [value](double bound) { return !(value <= bound); });
  cell_->buckets[static_cast<std::size_t>(bucket - bounds.begin())].fetch_add(1, std::memory_order_relaxed);
  cell_->real.fetch_add(value, std::memory_order_relaxed);
}

std::uint64_t Histogram::count() const noexcept {
  if (cell_ == nullptr) return 0;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= cell_->family.bounds.size(); ++i) {
    total += cell_->buckets[i].load(std::memory_order_relaxed);
  }
  return total;
}

double Histogram::sum() const noexcept { return cell_ == nullptr ? 0 : cell_->real.load(std::memory_order_relaxed); }

// ---- families ----

template <typename Handle>
Handle MetricFamily<Handle>::with(std::initializer_list<std::string_view> label_values) {
  return family_.handle<Handle>(label_values);
}

template <typename Handle>
void MetricFamily<Handle>::set_max_series(std::size_t limit) {
  family_.set_max_series(limit);
}

template <typename Handle>
const std::string& MetricFamily<Handle>::name() const noexcept {
  return family_.name;
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

MetricCallback::MetricCallback(MetricCallback&& other) noexcept : family_(std::exchange(other.family_, nullptr)) {}

MetricCallback& MetricCallback::operator=(MetricCallback&& other) noexcept {
  if (this != &other) {
    if (family_ != nullptr) family_->clear_callback();
    family_ = std::exchange(other.family_, nullptr);
  }
  return *this;
}

MetricCallback::~MetricCallback() {
  if (family_ != nullptr) family_->clear_callback();
}

// ---- registry ----

struct MetricsRegistry::State {
  mutable std::mutex mutex;
  // By name: the exposition's order.
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families;
  Family* refusals = nullptr;

  Family& add(Kind kind, std::string_view name, std::string_view help, std::vector<std::string> label_names,
              std::vector<double> bounds = {}) {
    if (!is_valid_name(name, true)) {
      throw metric_error(name, "not a metric name (Prometheus: [a-zA-Z_:][a-zA-Z0-9_:]*, no leading \"__\")");
    }
    if (!is_utf8(help)) throw metric_error(name, "the help text is not UTF-8");
    for (std::size_t i = 0; i < label_names.size(); ++i) {
      const std::string& label = label_names[i];
      if (!is_valid_name(label, false)) {
        throw metric_error(name, "label \"" + label +
                                     "\" is not a label name (Prometheus: [a-zA-Z_][a-zA-Z0-9_]*, no leading \"__\")");
      }
      for (std::size_t j = 0; j < i; ++j) {
        if (label_names[j] == label) throw metric_error(name, "label \"" + label + "\" is declared twice");
      }
      if (kind == Kind::kHistogram && label == "le") {
        throw metric_error(name, "\"le\" is the histogram's bucket label, not one of its own");
      }
    }
    if (!bounds.empty() && bounds.back() == std::numeric_limits<double>::infinity()) bounds.pop_back();
    for (std::size_t i = 0; i < bounds.size(); ++i) {
      if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i - 1] < bounds[i]))) {
        throw metric_error(name, "histogram buckets must be finite and strictly increasing");
      }
    }

    std::lock_guard lock(mutex);
    if (const auto it = families.find(name); it != families.end()) {
      Family& family = *it->second;
      if (family.kind != kind) {
        throw metric_error(name, "registered as a " + describe(family.kind) + ", now as a " + describe(kind));
      }
      if (family.label_names != label_names) {
        throw metric_error(name, "registered with other label names");
      }
      if (family.bounds != bounds) throw metric_error(name, "registered with other buckets");
      return family;
    }
    const bool callback = kind == Kind::kCounterCallback || kind == Kind::kGaugeCallback;
    const bool unlabelled_series = label_names.empty() && !callback;
    auto family = std::make_unique<Family>(kind, std::string(name), std::string(help), std::move(label_names),
                                           std::move(bounds), refusals);
    Family& added = *family;
    families.emplace(std::string(name), std::move(family));
    // A metric without labels is exposed from the start, as client_golang does: a zero
    // that a dashboard can tell from a metric that is missing.
    if (unlabelled_series) added.series({});
    return added;
  }
};

MetricsRegistry::MetricsRegistry() : state_(std::make_unique<State>()) {
  Family& refusals = state_->add(Kind::kCounter, "snap_metrics_series_overflow_total",
                                 "Series refused by a metric at its max_series bound (the updates went to its "
                                 "__overflow__ series), by metric.",
                                 {"metric"});
  // One series per family at most: the number of families is bounded by the code.
  refusals.set_max_series(std::numeric_limits<std::size_t>::max());
  state_->refusals = &refusals;
}

MetricsRegistry::~MetricsRegistry() = default;

CounterFamily& MetricsRegistry::counter(std::string_view name, std::string_view help,
                                        std::vector<std::string> label_names) {
  return state_->add(Kind::kCounter, name, help, std::move(label_names)).as_counter;
}

GaugeFamily& MetricsRegistry::gauge(std::string_view name, std::string_view help,
                                    std::vector<std::string> label_names) {
  return state_->add(Kind::kGauge, name, help, std::move(label_names)).as_gauge;
}

HistogramFamily& MetricsRegistry::histogram(std::string_view name, std::string_view help,
                                            std::vector<std::string> label_names, std::vector<double> buckets) {
  return state_->add(Kind::kHistogram, name, help, std::move(label_names), std::move(buckets)).as_histogram;
}

MetricCallback MetricsRegistry::gauge_callback(std::string_view name, std::string_view help,
                                               std::function<double()> read) {
  Family& family = state_->add(Kind::kGaugeCallback, name, help, {});
  family.set_callback(std::move(read));
  return MetricCallback(&family);
}

MetricCallback MetricsRegistry::counter_callback(std::string_view name, std::string_view help,
                                                 std::function<double()> read) {
  Family& family = state_->add(Kind::kCounterCallback, name, help, {});
  family.set_callback(std::move(read));
  return MetricCallback(&family);
}

std::string MetricsRegistry::exposition() const {
  // Families are never removed: the list is taken under the registry's lock, and each
  // family is rendered under its own only, so that registrations, with() on other
  // families and callbacks do not wait on the whole scrape.
  std::vector<const Family*> families;
  {
    std::lock_guard lock(state_->mutex);
    families.reserve(state_->families.size());
    for (const auto& [name, family] : state_->families) families.push_back(family.get());
  }
  std::string out;
  for (const Family* family : families) family->render(out);
  return out;
}

}  // namespace snap
