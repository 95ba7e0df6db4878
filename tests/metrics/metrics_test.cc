// The metrics registry (snap/metrics.h): the exposition of each type against exact text,
// number formatting and escaping, registration errors, exact sums under concurrent
// updates, histogram bucket boundaries, the cardinality bound, callbacks, and Prometheus'
// own promtool on the text of a registry holding every kind.
#include "snap/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <latch>
#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../support/subprocess.h"

namespace snap {
namespace {

using ::testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The value written for the sample line that starts with `series` ("name{labels}"), or
// "missing".
std::string sample(const std::string& exposition, const std::string& series) {
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(series + " ")) return line.substr(series.size() + 1);
  }
  return "missing";
}

// What `registration` threw as std::invalid_argument, or "no error".
std::string error_of(const std::function<void()>& registration) {
  try {
    registration();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

// ---- the exposition of each type ----

TEST(MetricsExposition, CountersAreIntegersUnlessIncrementedByFractions) {
  MetricsRegistry metrics;
  CounterFamily& requests = metrics.counter("snap_http_requests_total", "HTTP requests served.", {"endpoint", "code"});
  requests.with({"GET /api/customer", "200"}).inc();
  requests.with({"GET /api/customer", "200"}).inc(2);
  requests.with({"GET /api/customer", "500"}).inc();
  requests.with({"DELETE /api/customer", "200"}).inc(0.5);
  // 2^53 + 1 is no double: the count is kept as an integer.
  const Counter sent = metrics.counter("snap_http_sent_bytes_total", "Bytes sent.").with();
  sent.inc(9007199254740992.0);
  sent.inc();
  metrics.counter("snap_store_retries_total", "Store calls retried.");

  EXPECT_EQ(metrics.exposition(),
            "# HELP snap_http_requests_total HTTP requests served.\n"
            "# TYPE snap_http_requests_total counter\n"
            "snap_http_requests_total{endpoint=\"DELETE /api/customer\",code=\"200\"} 0.5\n"
            "snap_http_requests_total{endpoint=\"GET /api/customer\",code=\"200\"} 3\n"
            "snap_http_requests_total{endpoint=\"GET /api/customer\",code=\"500\"} 1\n"
            "# HELP snap_http_sent_bytes_total Bytes sent.\n"
            "# TYPE snap_http_sent_bytes_total counter\n"
            "snap_http_sent_bytes_total 9007199254740993\n"
            "# HELP snap_store_retries_total Store calls retried.\n"
            "# TYPE snap_store_retries_total counter\n"
            "snap_store_retries_total 0\n");
  EXPECT_EQ(requests.with({"GET /api/customer", "200"}).value(), 3);
}

TEST(MetricsExposition, GaugeNumbersAsPrometheusSpellsThem) {
  MetricsRegistry metrics;
  GaugeFamily& values = metrics.gauge("snap_test_value", "", {"case"});
  values.with({"integer"}).set(-42);
  values.with({"big_integer"}).set(1e15);
  values.with({"fraction"}).set(0.1);
  values.with({"small"}).set(1.5e-7);
  values.with({"large"}).set(1e300);
  values.with({"inf"}).set(kInf);
  values.with({"minus_inf"}).set(-kInf);
  values.with({"nan"}).set(kNaN);
  values.with({"added"}).add(2.5);
  values.with({"added"}).add(-1);

  // No "# HELP" for an empty help; series in label value order.
  EXPECT_EQ(metrics.exposition(),
            "# TYPE snap_test_value gauge\n"
            "snap_test_value{case=\"added\"} 1.5\n"
            "snap_test_value{case=\"big_integer\"} 1000000000000000\n"
            "snap_test_value{case=\"fraction\"} 0.1\n"
            "snap_test_value{case=\"inf\"} +Inf\n"
            "snap_test_value{case=\"integer\"} -42\n"
            "snap_test_value{case=\"large\"} 1e+300\n"
            "snap_test_value{case=\"minus_inf\"} -Inf\n"
            "snap_test_value{case=\"nan\"} NaN\n"
            "snap_test_value{case=\"small\"} 1.5e-07\n");
}

TEST(MetricsExposition, NumbersParseBackToTheSameDouble) {
  const double values[] = {0.1 + 0.2,     1.0 / 3,       -2.0 / 3,     5e-324,     2.2250738585072014e-308,
                           1.7976931348623157e308,        0x1p63,       -0x1p63,    0x1p63 - 1024,
                           123456789.125, 9007199254740993.0, -0.0,    1e21,       1e-5};
  for (const double value : values) {
    MetricsRegistry metrics;
    metrics.gauge("snap_test_value", "").with().set(value);
    const std::string written = sample(metrics.exposition(), "snap_test_value");
    EXPECT_EQ(std::strtod(written.c_str(), nullptr), value) << "written as " << written;
    EXPECT_EQ(written.find_first_of(" \t"), std::string::npos) << written;
  }
}

TEST(MetricsExposition, HistogramCumulativeBucketsSumAndCount) {
  MetricsRegistry metrics;
  HistogramFamily& sizes = metrics.histogram("snap_store_value_bytes", "Value sizes.", {"store"}, {0.25, 1, 8});
  const Histogram orders = sizes.with({"orders"});
  for (const double v : {0.125, 0.25, 0.5, 1.0, 4.0, 8.0, 16.0}) orders.observe(v);
  sizes.with({"customers"});
  metrics.histogram("snap_http_request_duration_seconds", "Latency.");

  EXPECT_EQ(metrics.exposition(),
            "# HELP snap_http_request_duration_seconds Latency.\n"
            "# TYPE snap_http_request_duration_seconds histogram\n"
            "snap_http_request_duration_seconds_bucket{le=\"0.005\"} 0\n"
            "snap_http_request_duration_seconds_bucket{le=\"0.01\"} 0\n"
            "snap_http_request_duration_seconds_bucket{le=\"0.025\"} 0\n"
            "snap_http_request_duration_seconds_bucket{le=\"0.05\"} 0\n"
            "snap_http_request_duration_seconds_bucket{le=\"0.1\"} 0\n"
            "snap_http_request_duration_seconds_bucket{le=\"0.25\"} 0\n"
            "snap_http_request_duration_seconds_bucket{le=\"0.5\"} 0\n"
            "snap_http_request_duration_seconds_bucket{le=\"1\"} 0\n"
            "snap_http_request_duration_seconds_bucket{le=\"2.5\"} 0\n"
            "snap_http_request_duration_seconds_bucket{le=\"5\"} 0\n"
            "snap_http_request_duration_seconds_bucket{le=\"10\"} 0\n"
            "snap_http_request_duration_seconds_bucket{le=\"+Inf\"} 0\n"
            "snap_http_request_duration_seconds_sum 0\n"
            "snap_http_request_duration_seconds_count 0\n"
            "# HELP snap_store_value_bytes Value sizes.\n"
            "# TYPE snap_store_value_bytes histogram\n"
            "snap_store_value_bytes_bucket{store=\"customers\",le=\"0.25\"} 0\n"
            "snap_store_value_bytes_bucket{store=\"customers\",le=\"1\"} 0\n"
            "snap_store_value_bytes_bucket{store=\"customers\",le=\"8\"} 0\n"
            "snap_store_value_bytes_bucket{store=\"customers\",le=\"+Inf\"} 0\n"
            "snap_store_value_bytes_sum{store=\"customers\"} 0\n"
            "snap_store_value_bytes_count{store=\"customers\"} 0\n"
            "snap_store_value_bytes_bucket{store=\"orders\",le=\"0.25\"} 2\n"
            "snap_store_value_bytes_bucket{store=\"orders\",le=\"1\"} 4\n"
            "snap_store_value_bytes_bucket{store=\"orders\",le=\"8\"} 6\n"
            "snap_store_value_bytes_bucket{store=\"orders\",le=\"+Inf\"} 7\n"
            "snap_store_value_bytes_sum{store=\"orders\"} 29.875\n"
            "snap_store_value_bytes_count{store=\"orders\"} 7\n");
  EXPECT_EQ(orders.count(), 7u);
  EXPECT_EQ(orders.sum(), 29.875);
}

TEST(MetricsExposition, DefaultBucketsAreClientGolangs) {
  EXPECT_EQ(default_latency_buckets(), (std::vector<double>{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}));
}

TEST(MetricsExposition, FamiliesInNameOrderAndLabelledOnesOnceTheyHaveSeries) {
  MetricsRegistry metrics;
  metrics.gauge("snap_b", "").with().set(2);
  metrics.gauge("snap_a", "").with().set(1);
  metrics.counter("snap_c_total", "", {"kind"});  // no series yet: not exposed
  metrics.gauge("snap_a:rate", "").with().set(3);
  const std::string expected =
      "# TYPE snap_a gauge\nsnap_a 1\n"
      "# TYPE snap_a:rate gauge\nsnap_a:rate 3\n"
      "# TYPE snap_b gauge\nsnap_b 2\n";
  EXPECT_EQ(metrics.exposition(), expected);
  EXPECT_EQ(metrics.exposition(), expected);  // a scrape changes nothing
  metrics.counter("snap_c_total", "", {"kind"}).with({"x"});
  EXPECT_EQ(metrics.exposition(), expected + "# TYPE snap_c_total counter\nsnap_c_total{kind=\"x\"} 0\n");
}

TEST(MetricsExposition, EscapesHelpAndLabelValues) {
  MetricsRegistry metrics;
  GaugeFamily& family =
      metrics.gauge("snap_test_value", "First line\nsecond \\ line, \"quoted\" as is.", {"path"});
  family.with({"C:\\dir \"quoted\"\nnext"}).set(1);
  EXPECT_EQ(metrics.exposition(),
            "# HELP snap_test_value First line\\nsecond \\\\ line, \"quoted\" as is.\n"
            "# TYPE snap_test_value gauge\n"
            "snap_test_value{path=\"C:\\\\dir \\\"quoted\\\"\\nnext\"} 1\n");
}

TEST(MetricsExposition, LabelValuesThatAreNotUtf8GetReplacementCharacters) {
  MetricsRegistry metrics;
  GaugeFamily& family = metrics.gauge("snap_test_value", "", {"name"});
  family.with({"caf\xC3\xA9"}).set(1);       // é, well-formed: kept
  family.with({"bad\xFF"}).set(2);           // a byte that is never UTF-8
  family.with({"over\xC0\xAF"}).add(3);      // an overlong '/'
  family.with({"bad\xEF\xBF\xBD"}).add(10);  // the same series as "bad\xFF"
  EXPECT_EQ(metrics.exposition(),
            "# TYPE snap_test_value gauge\n"
            "snap_test_value{name=\"bad\xEF\xBF\xBD\"} 12\n"
            "snap_test_value{name=\"caf\xC3\xA9\"} 1\n"
            "snap_test_value{name=\"over\xEF\xBF\xBD\xEF\xBF\xBD\"} 3\n");
}

// ---- registration ----

TEST(MetricsRegistry, InvalidNamesAreRefusedByName) {
  MetricsRegistry metrics;
  EXPECT_THAT(error_of([&] { metrics.counter("1st_total", ""); }), HasSubstr("metric \"1st_total\": not a metric name"));
  EXPECT_THAT(error_of([&] { metrics.counter("snap-requests_total", ""); }), HasSubstr("\"snap-requests_total\""));
  EXPECT_THAT(error_of([&] { metrics.gauge("", ""); }), HasSubstr("metric \"\": not a metric name"));
  EXPECT_THAT(error_of([&] { metrics.gauge("__snap", ""); }), HasSubstr("\"__snap\": not a metric name"));
  EXPECT_THAT(error_of([&] { metrics.gauge("snap_\xC3\xA9", ""); }), HasSubstr("not a metric name"));
  EXPECT_THAT(error_of([&] { metrics.counter("snap_a_total", "", {"http-code"}); }),
              HasSubstr("metric \"snap_a_total\": label \"http-code\" is not a label name"));
  EXPECT_THAT(error_of([&] { metrics.counter("snap_a_total", "", {"a:b"}); }), HasSubstr("label \"a:b\""));
  EXPECT_THAT(error_of([&] { metrics.counter("snap_a_total", "", {"__name__"}); }), HasSubstr("label \"__name__\""));
  EXPECT_THAT(error_of([&] { metrics.counter("snap_a_total", "", {"2xx"}); }), HasSubstr("label \"2xx\""));
  EXPECT_THAT(error_of([&] { metrics.counter("snap_a_total", "", {"code", "code"}); }),
              HasSubstr("metric \"snap_a_total\": label \"code\" is declared twice"));
  EXPECT_THAT(error_of([&] { metrics.histogram("snap_h_seconds", "", {"le"}); }),
              HasSubstr("metric \"snap_h_seconds\": \"le\" is the histogram's bucket label"));
  EXPECT_THAT(error_of([&] { metrics.counter("snap_a_total", "not UTF-8: \xFF"); }),
              HasSubstr("metric \"snap_a_total\": the help text is not UTF-8"));
  // None of the refused names was registered.
  EXPECT_EQ(metrics.exposition(), "");
  // What the grammar allows: colons in metric names, underscores, digits after the start.
  EXPECT_NO_THROW(metrics.gauge("snap:http_requests:rate5m", "", {"_internal", "code2"}));
  EXPECT_NO_THROW(metrics.gauge("_snap", "", {"Le"}));
}

TEST(MetricsRegistry, HistogramBucketsMustIncrease) {
  MetricsRegistry metrics;
  for (const std::vector<double>& buckets :
       {std::vector<double>{1, 1}, {2, 1}, {kNaN}, {-kInf, 1}, {1, kInf, 2}, {0.5, kNaN, 1}}) {
    EXPECT_THAT(error_of([&] { metrics.histogram("snap_h_seconds", "", {}, buckets); }),
                HasSubstr("metric \"snap_h_seconds\": histogram buckets must be finite and strictly increasing"));
  }
  // A last +Inf is the one every histogram has: the same family as without it.
  HistogramFamily& with_inf = metrics.histogram("snap_h_seconds", "", {}, {1, 2, kInf});
  EXPECT_EQ(&with_inf, &metrics.histogram("snap_h_seconds", "", {}, {1, 2}));
  // No bucket but +Inf.
  metrics.histogram("snap_i_seconds", "", {}, {}).with().observe(3);
  EXPECT_EQ(sample(metrics.exposition(), "snap_i_seconds_bucket{le=\"+Inf\"}"), "1");
}

TEST(MetricsRegistry, SameNameSameShapeIsTheSameFamily) {
  MetricsRegistry metrics;
  CounterFamily& first = metrics.counter("snap_http_requests_total", "Requests.", {"code"});
  CounterFamily& second = metrics.counter("snap_http_requests_total", "Other help.", {"code"});
  EXPECT_EQ(&first, &second);
  EXPECT_EQ(first.name(), "snap_http_requests_total");
  first.with({"200"}).inc();
  second.with({"200"}).inc();
  EXPECT_EQ(first.with({"200"}).value(), 2);
  // The first registration's help stands.
  EXPECT_THAT(metrics.exposition(), HasSubstr("# HELP snap_http_requests_total Requests.\n"));

  HistogramFamily& latency = metrics.histogram("snap_latency_seconds", "", {"op"});
  EXPECT_EQ(&latency, &metrics.histogram("snap_latency_seconds", "", {"op"}, default_latency_buckets()));
}

TEST(MetricsRegistry, SameNameOtherShapeIsAnErrorNamingTheMetric) {
  MetricsRegistry metrics;
  metrics.counter("snap_requests_total", "", {"code"});
  metrics.histogram("snap_latency_seconds", "", {}, {1, 2});
  EXPECT_THAT(error_of([&] { metrics.gauge("snap_requests_total", "", {"code"}); }),
              HasSubstr("metric \"snap_requests_total\": registered as a counter, now as a gauge"));
  EXPECT_THAT(error_of([&] { metrics.counter("snap_requests_total", "", {"status"}); }),
              HasSubstr("metric \"snap_requests_total\": registered with other label names"));
  EXPECT_THAT(error_of([&] { metrics.counter("snap_requests_total", "", {}); }),
              HasSubstr("metric \"snap_requests_total\": registered with other label names"));
  EXPECT_THAT(error_of([&] { metrics.histogram("snap_latency_seconds", "", {}, {1, 3}); }),
              HasSubstr("metric \"snap_latency_seconds\": registered with other buckets"));
  EXPECT_THAT(error_of([&] { (void)metrics.counter_callback("snap_requests_total", "", [] { return 1.0; }); }),
              HasSubstr("registered as a counter, now as a counter callback"));
  // The registry's own counter is taken like any other name.
  EXPECT_THAT(error_of([&] { metrics.gauge("snap_metrics_series_overflow_total", ""); }),
              HasSubstr("registered as a counter, now as a gauge"));
}

TEST(MetricsRegistry, WithTheWrongNumberOfLabelValuesNamesTheMetric) {
  MetricsRegistry metrics;
  CounterFamily& requests = metrics.counter("snap_requests_total", "", {"endpoint", "code"});
  EXPECT_THAT(error_of([&] { requests.with({"GET /"}); }),
              HasSubstr("metric \"snap_requests_total\": 1 label values for 2 labels (endpoint, code)"));
  EXPECT_THAT(error_of([&] { requests.with(); }), HasSubstr("0 label values for 2 labels"));
  EXPECT_THAT(error_of([&] { metrics.counter("snap_plain_total", "").with({"x"}); }),
              HasSubstr("metric \"snap_plain_total\": 1 label values for 0 labels ()"));
}

TEST(MetricsCounter, NegativeOrNaNIncrementIsAPreconditionViolation) {
  MetricsRegistry metrics;
  const Counter requests = metrics.counter("snap_requests_total", "").with();
  requests.inc(2);
  EXPECT_THAT(error_of([&] { requests.inc(-1); }),
              HasSubstr("metric \"snap_requests_total\": counter increment -1 (a counter only goes up"));
  EXPECT_THAT(error_of([&] { requests.inc(kNaN); }), HasSubstr("counter increment NaN"));
  EXPECT_EQ(requests.value(), 2);
  requests.inc(0);
  EXPECT_EQ(requests.value(), 2);
}

TEST(MetricsHandles, DetachedHandlesDoNothing) {
  const Counter counter;
  const Gauge gauge;
  const Histogram histogram;
  counter.inc();
  counter.inc(-1);  // nothing to check it against
  gauge.set(3);
  gauge.add(1);
  histogram.observe(1);
  EXPECT_EQ(counter.value(), 0);
  EXPECT_EQ(gauge.value(), 0);
  EXPECT_EQ(histogram.count(), 0u);
  EXPECT_EQ(histogram.sum(), 0);
}

// ---- concurrency ----

TEST(MetricsConcurrency, UpdatesFromManyThreadsSumExactly) {
  constexpr int kThreads = 4;
  constexpr int kUpdates = 100000;
  MetricsRegistry metrics;
  CounterFamily& requests = metrics.counter("snap_requests_total", "", {"code"});
  GaugeFamily& open = metrics.gauge("snap_open_connections", "", {"server"});
  HistogramFamily& latency = metrics.histogram("snap_latency_seconds", "", {"op"}, {0.25, 1});
  std::latch start(kThreads + 1);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      // The series are created by whichever thread comes first, and found by the others.
      const Counter ok = requests.with({"200"});
      const Gauge gauge = open.with({"api"});
      const Histogram get = latency.with({"get"});
      for (int i = 0; i < kUpdates; ++i) {
        ok.inc();
        gauge.add(i % 2 == 0 ? 3 : -1);
        get.observe(i % 2 == 0 ? 0.25 : 0.5);
        if (i % 100 == 0) ok.inc(0.5);
        // A series of each thread's own, and a hundred shared ones, made while the others update.
        if (i % 1000 == 0) requests.with({"t" + std::to_string(t) + "-" + std::to_string(i / 1000)}).inc();
      }
    });
  }
  // Scrapes while the updates run: counters never go back, _count is the +Inf bucket.
  start.arrive_and_wait();
  double last = 0;
  for (int scrape = 0; scrape < 50; ++scrape) {
    const std::string text = metrics.exposition();
    const std::string count = sample(text, "snap_latency_seconds_count{op=\"get\"}");
    if (count == "missing") continue;
    EXPECT_EQ(count, sample(text, "snap_latency_seconds_bucket{op=\"get\",le=\"+Inf\"}"));
    const double now = std::strtod(sample(text, "snap_requests_total{code=\"200\"}").c_str(), nullptr);
    EXPECT_GE(now, last);
    last = now;
  }
  for (std::thread& thread : threads) thread.join();

  // kUpdates increments of 1 and kUpdates/100 of 0.5 per thread: 4 x (100000 + 500).
  EXPECT_EQ(requests.with({"200"}).value(), 402000);
  EXPECT_EQ(open.with({"api"}).value(), kThreads * (kUpdates / 2) * (3 - 1));
  const Histogram get = latency.with({"get"});
  EXPECT_EQ(get.count(), std::uint64_t{kThreads} * kUpdates);
  EXPECT_EQ(get.sum(), kThreads * (kUpdates / 2) * (0.25 + 0.5));
  const std::string text = metrics.exposition();
  EXPECT_EQ(sample(text, "snap_latency_seconds_bucket{op=\"get\",le=\"0.25\"}"), "200000");
  EXPECT_EQ(sample(text, "snap_latency_seconds_bucket{op=\"get\",le=\"1\"}"), "400000");
  EXPECT_EQ(sample(text, "snap_requests_total{code=\"200\"}"), "402000");
  EXPECT_EQ(sample(text, "snap_requests_total{code=\"t3-99\"}"), "1");
  // Every series made, none refused: the histogram (# TYPE, 3 buckets, _sum, _count), the
  // gauge, the counters ("200" and 4 x 100) and no overflow counter.
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), (1 + 3 + 2) + (1 + 1) + (1 + 1 + kThreads * 100));
}

// ---- histogram buckets ----

TEST(MetricsHistogram, AValueOnABoundIsInThatBucket) {
  const std::vector<double> bounds = default_latency_buckets();
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    MetricsRegistry metrics;
    HistogramFamily& latency = metrics.histogram("snap_latency_seconds", "", {"at"});
    latency.with({"bound"}).observe(bounds[i]);
    latency.with({"above"}).observe(std::nextafter(bounds[i], kInf));
    const std::string text = metrics.exposition();
    const auto bucket = [&](const char* series, std::size_t k) {
      std::string le;
      if (k < bounds.size()) {
        std::ostringstream out;
        out << bounds[k];
        le = out.str();
      } else {
        le = "+Inf";
      }
      return sample(text, std::string("snap_latency_seconds_bucket{at=\"") + series + "\",le=\"" + le + "\"}");
    };
    EXPECT_EQ(bucket("bound", i), "1") << "le=" << bounds[i];
    if (i > 0) {
      EXPECT_EQ(bucket("bound", i - 1), "0") << "le=" << bounds[i];
    }
    EXPECT_EQ(bucket("above", i), "0") << "le=" << bounds[i];
    EXPECT_EQ(bucket("above", i + 1), "1") << "le=" << bounds[i];
  }
}

TEST(MetricsHistogram, BelowTheFirstBoundNaNAndInfinities) {
  MetricsRegistry metrics;
  HistogramFamily& family = metrics.histogram("snap_delta_seconds", "", {"case"}, {-1, 0, 1});
  family.with({"below"}).observe(-5);
  family.with({"minus_inf"}).observe(-kInf);
  family.with({"inf"}).observe(kInf);
  family.with({"nan"}).observe(kNaN);
  const std::string text = metrics.exposition();
  EXPECT_EQ(sample(text, "snap_delta_seconds_bucket{case=\"below\",le=\"-1\"}"), "1");
  EXPECT_EQ(sample(text, "snap_delta_seconds_sum{case=\"below\"}"), "-5");
  EXPECT_EQ(sample(text, "snap_delta_seconds_bucket{case=\"minus_inf\",le=\"-1\"}"), "1");
  EXPECT_EQ(sample(text, "snap_delta_seconds_bucket{case=\"inf\",le=\"1\"}"), "0");
  EXPECT_EQ(sample(text, "snap_delta_seconds_bucket{case=\"inf\",le=\"+Inf\"}"), "1");
  EXPECT_EQ(sample(text, "snap_delta_seconds_sum{case=\"inf\"}"), "+Inf");
  EXPECT_EQ(sample(text, "snap_delta_seconds_bucket{case=\"nan\",le=\"1\"}"), "0");
  EXPECT_EQ(sample(text, "snap_delta_seconds_bucket{case=\"nan\",le=\"+Inf\"}"), "1");
  EXPECT_EQ(sample(text, "snap_delta_seconds_count{case=\"nan\"}"), "1");
  EXPECT_EQ(sample(text, "snap_delta_seconds_sum{case=\"nan\"}"), "NaN");
}

// ---- the cardinality bound ----

TEST(MetricsCardinality, PastMaxSeriesTheOverflowSeriesAndItsCounter) {
  MetricsRegistry metrics;
  CounterFamily& paths = metrics.counter("snap_paths_total", "Requests by path.", {"path", "method"});
  paths.set_max_series(3);
  paths.with({"/a", "GET"}).inc();
  paths.with({"/b", "GET"}).inc();
  paths.with({"/c", "GET"}).inc();
  const Counter d = paths.with({"/d", "GET"});  // refused
  d.inc();
  paths.with({"/e", "PUT"}).inc(2);  // refused: the same overflow series
  paths.with({"/a", "GET"}).inc();   // a series that exists is still its own
  EXPECT_EQ(metrics.exposition(),
            "# HELP snap_metrics_series_overflow_total Series refused by a metric at its max_series bound "
            "(the updates went to its __overflow__ series), by metric.\n"
            "# TYPE snap_metrics_series_overflow_total counter\n"
            "snap_metrics_series_overflow_total{metric=\"snap_paths_total\"} 2\n"
            "# HELP snap_paths_total Requests by path.\n"
            "# TYPE snap_paths_total counter\n"
            "snap_paths_total{path=\"/a\",method=\"GET\"} 2\n"
            "snap_paths_total{path=\"/b\",method=\"GET\"} 1\n"
            "snap_paths_total{path=\"/c\",method=\"GET\"} 1\n"
            "snap_paths_total{path=\"__overflow__\",method=\"__overflow__\"} 3\n");
  EXPECT_EQ(d.value(), 3);

  // Lowering the bound keeps the series there are; each refusal is counted.
  paths.set_max_series(1);
  paths.with({"/b", "GET"}).inc();
  paths.with({"/f", "GET"}).inc();
  const std::string text = metrics.exposition();
  EXPECT_EQ(sample(text, "snap_paths_total{path=\"/b\",method=\"GET\"}"), "2");
  EXPECT_EQ(sample(text, "snap_paths_total{path=\"__overflow__\",method=\"__overflow__\"}"), "4");
  EXPECT_EQ(sample(text, "snap_metrics_series_overflow_total{metric=\"snap_paths_total\"}"), "3");
  EXPECT_THAT(error_of([&] { paths.set_max_series(0); }), HasSubstr("metric \"snap_paths_total\": max_series"));
}

TEST(MetricsCardinality, DefaultBoundIsAThousandSeriesPerFamily) {
  MetricsRegistry metrics;
  GaugeFamily& users = metrics.gauge("snap_by_user", "", {"user"});
  HistogramFamily& other = metrics.histogram("snap_other_seconds", "", {"user"});
  for (std::size_t i = 0; i < kDefaultMaxSeries; ++i) users.with({std::to_string(i)}).set(1);
  other.with({"0"}).observe(1);  // the bound is per family
  users.with({"one more"}).set(7);
  users.with({"and another"}).add(1);
  const std::string text = metrics.exposition();
  EXPECT_EQ(sample(text, "snap_by_user{user=\"999\"}"), "1");
  EXPECT_EQ(sample(text, "snap_by_user{user=\"one more\"}"), "missing");
  EXPECT_EQ(sample(text, "snap_by_user{user=\"__overflow__\"}"), "8");
  EXPECT_EQ(sample(text, "snap_metrics_series_overflow_total{metric=\"snap_by_user\"}"), "2");
  EXPECT_EQ(sample(text, "snap_metrics_series_overflow_total{metric=\"snap_other_seconds\"}"), "missing");
  EXPECT_EQ(sample(text, "snap_other_seconds_count{user=\"0\"}"), "1");
}

// ---- callbacks ----

TEST(MetricsCallback, ReadAtExpositionUntilUnregistered) {
  MetricsRegistry metrics;
  double queued = 3;
  {
    MetricCallback queue = metrics.gauge_callback("snap_trace_queue_spans", "Spans waiting.", [&] { return queued; });
    MetricCallback dropped = metrics.counter_callback("snap_trace_dropped_spans_total", "", [] { return 12.0; });
    EXPECT_EQ(metrics.exposition(),
              "# TYPE snap_trace_dropped_spans_total counter\n"
              "snap_trace_dropped_spans_total 12\n"
              "# HELP snap_trace_queue_spans Spans waiting.\n"
              "# TYPE snap_trace_queue_spans gauge\n"
              "snap_trace_queue_spans 3\n");
    queued = 0.5;
    EXPECT_EQ(sample(metrics.exposition(), "snap_trace_queue_spans"), "0.5");
    EXPECT_THAT(error_of([&] { (void)metrics.gauge_callback("snap_trace_queue_spans", "", [] { return 1.0; }); }),
                HasSubstr("metric \"snap_trace_queue_spans\": has a callback already"));
    EXPECT_THAT(error_of([&] { (void)metrics.gauge_callback("snap_empty", "", nullptr); }),
                HasSubstr("metric \"snap_empty\": the callback is empty"));

    // Moved: the callback stays registered with its new holder.
    MetricCallback moved = std::move(queue);
    EXPECT_EQ(sample(metrics.exposition(), "snap_trace_queue_spans"), "0.5");
    moved = std::move(dropped);  // unregisters the queue's
    EXPECT_EQ(sample(metrics.exposition(), "snap_trace_queue_spans"), "missing");
    EXPECT_EQ(sample(metrics.exposition(), "snap_trace_dropped_spans_total"), "12");
  }
  EXPECT_EQ(metrics.exposition(), "");
  // Gone, the name takes a new function.
  MetricCallback again = metrics.gauge_callback("snap_trace_queue_spans", "", [] { return 9.0; });
  EXPECT_EQ(sample(metrics.exposition(), "snap_trace_queue_spans"), "9");
}

// ---- Prometheus' own check ----

std::filesystem::path find_promtool() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::filesystem::path candidate = std::filesystem::path(dir.empty() ? "." : dir) / "promtool";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

// `promtool check metrics` reads the text on its standard input: from `file` here.
testing::ProcessResult promtool_check(const std::filesystem::path& promtool, const std::filesystem::path& file) {
  return testing::run_process({"/bin/sh", "-c", "exec \"$0\" check metrics < \"$1\"", promtool.string(), file.string()});
}

TEST(MetricsPromtool, ChecksTheExpositionOfEveryKind) {
  const std::filesystem::path promtool = find_promtool();
  if (promtool.empty()) {
    GTEST_SKIP() << "promtool is not installed (Debian: apt-get install prometheus, as scripts/install-deps.sh "
                    "does): the exposition was not checked by Prometheus' own parser and linter";
  }
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("snap-metrics-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto write = [&](const std::string& name, const std::string& text) {
    const std::filesystem::path file = dir / name;
    std::ofstream(file, std::ios::binary) << text;
    return file;
  };

  // The check can fail: a counter without "_total" and without help is reported.
  const testing::ProcessResult flawed =
      promtool_check(promtool, write("flawed.prom", "# TYPE snap_requests counter\nsnap_requests 1\n"));
  EXPECT_NE(flawed.exit_code, 0);
  EXPECT_THAT(flawed.err, HasSubstr("_total"));

  MetricsRegistry metrics;
  CounterFamily& requests = metrics.counter("snap_http_requests_total", "HTTP requests served, by endpoint\nand code.",
                                            {"endpoint", "code"});
  requests.with({"GET /api/customer", "200"}).inc(41);
  requests.with({"GET /api/customer?q=\"x\\y\"\n", "404"}).inc(0.5);
  requests.with({"caf\xC3\xA9 \xFF", "200"}).inc();
  requests.set_max_series(3);
  requests.with({"POST /api/order", "201"}).inc();  // refused: the overflow series and counter
  metrics.counter("snap_store_retries_total", "Store calls retried.").with().inc(1e6);
  GaugeFamily& open = metrics.gauge("snap_http_open_connections", "Connections open.", {"server"});
  open.with({"api"}).set(12);
  open.with({"inf"}).set(kInf);
  open.with({"nan"}).set(kNaN);
  open.with({"small"}).set(-1.5e-7);
  HistogramFamily& latency = metrics.histogram("snap_http_request_duration_seconds", "Request latency.", {"endpoint"});
  for (const double v : {0.001, 0.005, 0.3, 2.5, 60.0}) latency.with({"GET /api/customer"}).observe(v);
  latency.with({"GET /healthz"});
  metrics.histogram("snap_store_value_bytes", "Value sizes.", {}, {64, 1024, 65536}).with().observe(100);
  const MetricCallback queue = metrics.gauge_callback("snap_trace_queue_spans", "Spans waiting.", [] { return 7.0; });
  const MetricCallback dropped =
      metrics.counter_callback("snap_trace_dropped_spans_total", "Spans dropped.", [] { return 2.0; });
  const std::string text = metrics.exposition();
  for (const char* kind : {"counter", "gauge", "histogram"}) ASSERT_THAT(text, HasSubstr(std::string(" ") + kind + "\n"));
  ASSERT_THAT(text, HasSubstr("snap_metrics_series_overflow_total{metric=\"snap_http_requests_total\"} 1\n"));

  const std::filesystem::path file = write("exposition.prom", text);
  const testing::ProcessResult checked = promtool_check(promtool, file);
  EXPECT_EQ(checked.exit_code, 0) << checked.err << checked.out;
  EXPECT_EQ(checked.err, "");
  if (!HasFailure()) {
    std::filesystem::remove_all(dir);
  } else {
    ADD_FAILURE() << "the exposition promtool checked is in " << file;
  }
}

}  // namespace
}  // namespace snap
