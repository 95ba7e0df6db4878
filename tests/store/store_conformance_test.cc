// One behaviour contract, two backends: every test here runs unchanged against the memory
// backend and against a real PostgreSQL 15 (started privately by the test setup).
#include <boost/describe.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <thread>

#include "../support/test_postgres.h"
#include "snap/json_limits.h"
#include "snap/store.h"

namespace shop {
struct Order {
  std::string customer;
  int total = 0;
  std::vector<std::string> tags;
  friend bool operator==(const Order&, const Order&) = default;
};
BOOST_DESCRIBE_STRUCT(Order, (), (customer, total, tags))
}  // namespace shop

namespace snap {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::StartsWith;
using ::testing::HasSubstr;
using shop::Order;

// Opens stores on one backend; reopening a name sees the same data.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::unique_ptr<JsonStore> open(const StoreOptions& options) = 0;
};

class MemoryBackendFactory final : public Backend {
 public:
  std::unique_ptr<JsonStore> open(const StoreOptions& options) override { return open_memory_store(options, db_); }

 private:
  std::shared_ptr<MemoryDatabase> db_ = make_memory_database();
};

class PostgresBackendFactory final : public Backend {
 public:
  std::unique_ptr<JsonStore> open(const StoreOptions& options) override {
    PostgresOptions pg;
    pg.connection = testing::TestPostgres::shared().connection();
    return open_postgres_store(pg, options);
  }
};

struct BackendParam {
  std::string name;
  std::function<std::unique_ptr<Backend>()> make;
};
void PrintTo(const BackendParam& param, std::ostream* os) { *os << param.name; }

std::string unique_store_name() {
  // Tables outlive a test in the shared server: every test gets fresh names.
  static std::atomic<int> counter{0};
  static const std::string run = std::to_string(std::random_device{}() % 100000);
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string(info->name()).substr(0, 20) + "_" + run + "_" + std::to_string(counter++);
}

class StoreConformance : public ::testing::TestWithParam<BackendParam> {
 protected:
  void SetUp() override {
    backend_ = GetParam().make();
    name_ = unique_store_name();
  }
  std::unique_ptr<JsonStore> open(std::vector<IndexSpec> indexes = {}) {
    return backend_->open(StoreOptions{name_, std::move(indexes)});
  }

  std::unique_ptr<Backend> backend_;
  std::string name_;
};

IndexSpec by_customer(int version = 1) {
  return IndexSpec{"by-customer", version, [](std::string_view, const json& v) {
                     return std::vector<IndexEntry>{
                         {std::string(v.at("customer").as_string()), v.at("total")}};
                   }};
}

IndexSpec by_tag() {
  return IndexSpec{"by-tag", 1, [](std::string_view, const json& v) {
                     std::vector<IndexEntry> out;
                     for (const auto& t : v.at("tags").as_array()) out.push_back({std::string(t.as_string()), t});
                     return out;
                   }};
}

json order(const char* customer, int total, std::vector<std::string> tags = {}) {
  return boost::json::value_from(Order{customer, total, std::move(tags)});
}

TEST_P(StoreConformance, AbsentKeysAreEmptyNotErrors) {
  auto store = open();
  EXPECT_FALSE(store->get("nope").has_value());
  EXPECT_FALSE(store->has("nope"));
  EXPECT_FALSE(store->del("nope"));
  EXPECT_TRUE(store->keys().empty());
}

TEST_P(StoreConformance, SetGetOverwriteDelete) {
  auto store = open();
  store->set("a", json{{"n", 1}});
  EXPECT_EQ(store->get("a").value(), (json{{"n", 1}}));
  EXPECT_TRUE(store->has("a"));
  store->set("a", json{{"n", 2}});
  EXPECT_EQ(store->get("a").value(), (json{{"n", 2}}));
  EXPECT_TRUE(store->del("a"));
  EXPECT_FALSE(store->get("a").has_value());
  EXPECT_FALSE(store->del("a"));
}

TEST_P(StoreConformance, ValuesComeBackUnmangled) {
  auto store = open();
  const std::vector<json> values = {
      json(nullptr), json(true), json(0), json(-42), json(std::int64_t{9'007'199'254'740'993}), json(1.5),
      json("text with \"quotes\", ünïcødé and \\ backslash"), json(""), boost::json::array{},
      boost::json::parse(R"({"nested":{"list":[1,"two",3.25,null,{"deep":[]}]},"empty":{}})"),
      json(std::uint64_t{18'446'744'073'709'551'615u})};
  for (std::size_t i = 0; i < values.size(); ++i) store->set("v" + std::to_string(i), values[i]);
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(store->get("v" + std::to_string(i)).value(), values[i]) << boost::json::serialize(values[i]);
  }
}

TEST_P(StoreConformance, KeysAreByteOrderedAndPaged) {
  auto store = open();
  std::vector<std::string> keys = {"b", "B", "a", "a-b", "a_b", "a.b", "10", "9", "\xc3\xa9t\xc3\xa9", "z", "aa", "~"};
  for (const auto& k : keys) store->set(k, json(k));
  std::sort(keys.begin(), keys.end());  // std::string order: byte-wise
  EXPECT_EQ(store->keys(), keys);

  std::vector<std::string> paged;
  KeyPage page{"", 5};
  while (true) {
    auto batch = store->keys(page);
    paged.insert(paged.end(), batch.begin(), batch.end());
    if (batch.size() < page.limit) break;
    page.after = batch.back();
  }
  EXPECT_EQ(paged, keys);

  std::vector<std::string> streamed;
  store->for_each_key([&](const std::string& k) { streamed.push_back(k); return true; }, 4);
  EXPECT_EQ(streamed, keys);
  EXPECT_THAT(store->keys(KeyPage{"a_b", 2}), ElementsAre("aa", "b"));
}

TEST_P(StoreConformance, EmptyKeyIsInvalid) {
  auto store = open();
  try {
    store->set("", json(1));
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreError::Code::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("store \"" + name_ + "\": key is empty"));
  }
}

TEST_P(StoreConformance, IndexFollowsSetOverwriteAndDelete) {
  auto store = open({by_customer()});
  auto index = store->index("by-customer");
  store->set("o3", order("alice", 30));
  store->set("o1", order("alice", 10));
  store->set("o2", order("bob", 20));
  EXPECT_THAT(index.get("alice"), ElementsAre(IndexMatch{"o1", json(10)}, IndexMatch{"o3", json(30)}));
  EXPECT_THAT(index.get("bob"), ElementsAre(IndexMatch{"o2", json(20)}));

  store->set("o1", order("bob", 11));  // overwrite moves it
  EXPECT_THAT(index.get("alice"), ElementsAre(IndexMatch{"o3", json(30)}));
  EXPECT_THAT(index.get("bob"), ElementsAre(IndexMatch{"o1", json(11)}, IndexMatch{"o2", json(20)}));

  store->del("o2");
  EXPECT_THAT(index.get("bob"), ElementsAre(IndexMatch{"o1", json(11)}));
  EXPECT_TRUE(index.get("carol").empty());

  store->modify("o3", [](const std::optional<json>&) { return order("carol", 33); });
  EXPECT_TRUE(index.get("alice").empty());
  EXPECT_THAT(index.get("carol"), ElementsAre(IndexMatch{"o3", json(33)}));
}

TEST_P(StoreConformance, SeveralEntriesPerItemKeepTheirOrder) {
  auto store = open({by_tag()});
  store->set("b", order("x", 1, {"red", "big", "red"}));
  store->set("a", order("y", 2, {"red"}));
  auto red = store->index("by-tag").get("red");
  // By key, then in the order the indexer emitted them.
  ASSERT_EQ(red.size(), 3u);
  EXPECT_EQ(red[0].key, "a");
  EXPECT_EQ(red[1].key, "b");
  EXPECT_EQ(red[2].key, "b");
  EXPECT_THAT(store->index("by-tag").get("big"), ElementsAre(IndexMatch{"b", json("big")}));
}

TEST_P(StoreConformance, ChangedIndexVersionRebuildsTheIndex) {
  {
    auto store = open({by_customer(1)});
    store->set("o1", order("alice", 10));
    store->set("o2", order("bob", 20));
  }
  // Version 2 indexes by total instead: reopening must rebuild, not leave customer keys.
  IndexSpec by_total{"by-customer", 2, [](std::string_view, const json& v) {
                       return std::vector<IndexEntry>{{std::to_string(v.at("total").as_int64()), v.at("customer")}};
                     }};
  auto store = open({by_total});
  EXPECT_TRUE(store->index("by-customer").get("alice").empty());
  EXPECT_THAT(store->index("by-customer").get("20"), ElementsAre(IndexMatch{"o2", json("bob")}));
  // The same version again does not rebuild (and need not).
  auto again = open({by_total});
  EXPECT_THAT(again->index("by-customer").get("10"), ElementsAre(IndexMatch{"o1", json("alice")}));
}

TEST_P(StoreConformance, EmptyIndexKeyIsRefusedAndNothingIsWritten) {
  IndexSpec bad{"by-name", 1, [](std::string_view, const json& v) {
                  return std::vector<IndexEntry>{{std::string(v.at("name").as_string()), nullptr}};
                }};
  auto store = open({bad});
  try {
    store->set("k", json{{"name", ""}});
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreError::Code::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("index \"by-name\" of store \"" + name_ +
                                    "\": the indexer returned an empty index key for key \"k\""));
  }
  EXPECT_FALSE(store->get("k").has_value());
  try {
    store->index("by-name").get("");
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreError::Code::kInvalidArgument);
  }
  try {
    store->index("no-such-index");
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_THAT(e.what(), HasSubstr("has no index \"no-such-index\""));
  }
}

TEST_P(StoreConformance, TypedStoreConvertsAndNamesKeyAndTypeOnError) {
  auto store = open();
  Store<Order> orders(*store);
  const Order o{"alice", 12, {"gift"}};
  orders.set("o1", o);
  EXPECT_EQ(orders.get("o1").value(), o);
  EXPECT_FALSE(orders.get("absent").has_value());

  store->set("broken", json{{"customer", 5}});
  try {
    orders.get("broken");
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreError::Code::kConversion);
    EXPECT_THAT(e.what(), HasSubstr("store value at key \"broken\" is not a valid shop::Order"));
  }
  const Order bumped = orders.modify("o1", [](const std::optional<Order>& cur) {
    Order next = cur.value();
    next.total += 1;
    return next;
  });
  EXPECT_EQ(bumped.total, 13);
  EXPECT_EQ(orders.get("o1")->total, 13);
}

TEST_P(StoreConformance, ModifySeesAbsentThenCurrent) {
  auto store = open();
  auto add = [](const std::optional<json>& cur) { return json(cur ? cur->as_int64() + 5 : 1); };
  EXPECT_EQ(store->modify("n", add), json(1));
  EXPECT_EQ(store->modify("n", add), json(6));
  EXPECT_EQ(store->get("n").value(), json(6));
}

TEST_P(StoreConformance, ConcurrentModifiesLoseNoIncrement) {
  auto store = open();
  constexpr int kThreads = 8, kIncrements = 1000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        store->modify("counter", [](const std::optional<json>& cur) { return json(cur ? cur->as_int64() + 1 : 1); });
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(store->get("counter").value(), json(kThreads * kIncrements));
}

// Throws if `f` does not throw StoreError with `code`; returns its message.
template <typename F>
std::string error_of(StoreError::Code code, F&& f) {
  try {
    f();
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected a StoreError";
  return "";
}

TEST_P(StoreConformance, NumbersComeBackExactlyAsTheyWere) {
  auto store = open();
  // jsonb keeps numbers as decimals with no int/double distinction, and Boost.JSON 1.81
  // parses some doubles one unit in the last place off: both are the store's business.
  const json two = 2.0;
  store->set("two", two);
  ASSERT_TRUE(store->get("two")->is_double());
  EXPECT_EQ(store->get("two")->as_double(), 2.0);

  const double specials[] = {1e19, -1e19, 1e300, 5e-324, 2.2250738585072014e-308, 0.1, 1.0 / 3,
                             -1.9934908051011654e189, std::numeric_limits<double>::max(), 123456789012345680.0};
  boost::json::array doubles;
  for (double d : specials) doubles.push_back(d);
  std::mt19937_64 rng(7);  // fixed seed: the same values on every run
  while (doubles.size() < 2000) {
    const std::uint64_t bits = rng();
    double d;
    std::memcpy(&d, &bits, sizeof d);
    if (std::isfinite(d)) doubles.push_back(d);
  }
  store->set("doubles", doubles);
  const auto back = store->get("doubles").value().as_array();
  ASSERT_EQ(back.size(), doubles.size());
  for (std::size_t i = 0; i < doubles.size(); ++i) {
    ASSERT_TRUE(back[i].is_double()) << i << ": " << boost::json::serialize(back[i]);
    const double want = doubles[i].as_double(), got = back[i].as_double();
    ASSERT_EQ(std::memcmp(&want, &got, sizeof want), 0) << "at " << i << ": stored " << boost::json::serialize(doubles[i])
                                                       << ", got " << boost::json::serialize(back[i]);
  }

  // The two documented normalizations, alike in both backends.
  store->set("n", boost::json::array{-0.0, std::uint64_t{5}, std::numeric_limits<std::uint64_t>::max(),
                                     std::numeric_limits<std::int64_t>::min()});
  const auto n = store->get("n").value().as_array();
  EXPECT_TRUE(n[0].is_double());
  EXPECT_FALSE(std::signbit(n[0].as_double()));
  EXPECT_TRUE(n[1].is_int64());
  EXPECT_EQ(n[1].as_int64(), 5);
  EXPECT_TRUE(n[2].is_uint64());
  EXPECT_EQ(n[3].as_int64(), std::numeric_limits<std::int64_t>::min());

  // modify returns what get will, and index inline values follow the same rules.
  const json modified = store->modify("m", [](const std::optional<json>&) {
    return json{{"x", std::uint64_t{1}}, {"y", -0.0}, {"z", 3.0}};
  });
  EXPECT_EQ(modified, store->get("m").value());
  EXPECT_TRUE(modified.at("x").is_int64());
  EXPECT_FALSE(std::signbit(modified.at("y").as_double()));
  EXPECT_TRUE(store->get("m")->at("z").is_double());
}

TEST_P(StoreConformance, InlineValuesComeBackExactly) {
  auto store = open({IndexSpec{"all", 1, [](std::string_view, const json& v) {
                                 return std::vector<IndexEntry>{{"all", v.at("price")}};
                               }}});
  store->set("a", json{{"price", 4.0}});
  store->set("b", json{{"price", 0.30000000000000004}});
  const auto matches = store->index("all").get("all");
  ASSERT_EQ(matches.size(), 2u);
  EXPECT_TRUE(matches[0].inline_value.is_double());
  EXPECT_EQ(matches[0].inline_value.as_double(), 4.0);
  EXPECT_EQ(matches[1].inline_value.as_double(), 0.30000000000000004);
}

TEST_P(StoreConformance, BadOptionsAreRefusedAtOpen) {
  EXPECT_THAT(error_of(StoreError::Code::kInvalidArgument, [&] { backend_->open(StoreOptions{"", {}}); }),
              HasSubstr("the store name is empty"));
  EXPECT_THAT(error_of(StoreError::Code::kInvalidArgument, [&] { open({by_customer(), by_customer(2)}); }),
              HasSubstr("store \"" + name_ + "\": two indexes are named \"by-customer\""));
  EXPECT_THAT(error_of(StoreError::Code::kInvalidArgument, [&] { open({IndexSpec{"none", 1, nullptr}}); }),
              HasSubstr("index \"none\" has no indexer"));
}

TEST_P(StoreConformance, IndexersSeeValuesAsTheyWillBeRead) {
  // Otherwise a write and a later rebuild could index one item differently.
  auto kind = [](int version) {
    return IndexSpec{"kind", version, [](std::string_view, const json& v) {
                       const char* k = v.is_uint64() ? "uint64" : v.is_int64() ? "int64" : "other";
                       return std::vector<IndexEntry>{{k, nullptr}};
                     }};
  };
  {
    auto store = open({kind(1)});
    store->set("set", json(std::uint64_t{5}));
    store->modify("modified", [](const std::optional<json>&) { return json(std::uint64_t{6}); });
    EXPECT_THAT(store->index("kind").get("int64"), ElementsAre(IndexMatch{"modified", nullptr}, IndexMatch{"set", nullptr}));
  }
  auto rebuilt = open({kind(2)});
  EXPECT_THAT(rebuilt->index("kind").get("int64"), ElementsAre(IndexMatch{"modified", nullptr}, IndexMatch{"set", nullptr}));
}

TEST_P(StoreConformance, UnstorableValuesAreRefusedAndNothingIsWritten) {
  auto store = open();
  const std::string nul("a\0b", 3);
  struct Case {
    json value;
    std::string says;
  };
  const std::vector<Case> cases = {
      {json{{"x", boost::json::array{1, std::numeric_limits<double>::quiet_NaN()}}},
       "a non-finite number (JSON has no NaN or infinity) at \"/x/1\""},
      {json(std::numeric_limits<double>::infinity()), "a non-finite number"},
      {json{{"s", boost::json::string_view(nul)}}, "a string that contains a NUL character"},
      {json{{boost::json::string_view(nul), 1}}, "a member name that contains a NUL character"},
      {json{{"a/b~", boost::json::array{"ok", "\xff"}}}, "a string that is not valid UTF-8 at \"/a~1b~0/1\""},
      {json("\xed\xa0\x80"), "not valid UTF-8"},  // a UTF-16 surrogate: PostgreSQL refuses it too
  };
  for (const Case& c : cases) {
    const std::string message = error_of(StoreError::Code::kInvalidArgument, [&] { store->set("k", c.value); });
    EXPECT_THAT(message, HasSubstr("store \"" + name_ + "\": the value for key \"k\" cannot be stored: it holds "));
    EXPECT_THAT(message, HasSubstr(c.says));
    error_of(StoreError::Code::kInvalidArgument, [&] { store->modify("k", [&](const std::optional<json>&) { return c.value; }); });
  }
  EXPECT_FALSE(store->has("k"));
  EXPECT_TRUE(store->keys().empty());
}

// One nesting limit for what endpoints read and what the store holds (kJsonMaxDepth): a
// value at the limit is stored and read back whole, one level deeper is refused before
// anything is written (PostgreSQL would take it, and reading it back would then fail).
TEST_P(StoreConformance, ValuesNestedDeeperThanTheJsonLimitAreRefused) {
  auto store = open();
  const auto nested = [](std::size_t depth) {
    json v = boost::json::array{};
    for (std::size_t d = 1; d < depth; ++d) v = json{{"a", v}};
    return v;
  };
  store->set("deepest", nested(kJsonMaxDepth));
  EXPECT_EQ(store->get("deepest").value(), nested(kJsonMaxDepth));
  const std::string message =
      error_of(StoreError::Code::kInvalidArgument, [&] { store->set("k", nested(kJsonMaxDepth + 1)); });
  EXPECT_THAT(message, HasSubstr("store \"" + name_ + "\": the value for key \"k\" cannot be stored: it holds "
                                 "arrays and objects nested deeper than 32 (kJsonMaxDepth) at \"/a/a"));
  error_of(StoreError::Code::kInvalidArgument,
           [&] { store->modify("k", [&](const std::optional<json>&) { return nested(kJsonMaxDepth + 1); }); });
  EXPECT_FALSE(store->has("k"));
}

TEST_P(StoreConformance, KeysMustBeUtf8WithoutNul) {
  const std::string nul("a\0b", 3);
  auto store = open({IndexSpec{"echo", 1, [nul](std::string_view, const json& v) {
                                 const std::string s(v.as_string());
                                 return std::vector<IndexEntry>{{s == "make-nul" ? nul : s, nullptr}};
                               }}});
  EXPECT_THAT(error_of(StoreError::Code::kInvalidArgument, [&] { store->set(nul, json("x")); }),
              HasSubstr("key \"a\\x00b\" contains a NUL character"));
  EXPECT_THAT(error_of(StoreError::Code::kInvalidArgument, [&] { store->get("caf\xe9"); }),
              HasSubstr("key \"caf\\xe9\" is not valid UTF-8"));
  error_of(StoreError::Code::kInvalidArgument, [&] { store->has(nul); });
  error_of(StoreError::Code::kInvalidArgument, [&] { store->del(nul); });
  error_of(StoreError::Code::kInvalidArgument, [&] { store->keys(KeyPage{nul, 10}); });
  EXPECT_THAT(error_of(StoreError::Code::kInvalidArgument, [&] { store->set("k", json("make-nul")); }),
              HasSubstr("index \"echo\" of store \"" + name_ + "\": for key \"k\", the index key \"a\\x00b\" contains a NUL"));
  EXPECT_FALSE(store->has("k"));
  error_of(StoreError::Code::kInvalidArgument, [&] { store->index("echo").get("\xc0\xaf"); });  // overlong "/"

  // Non-ASCII UTF-8 is fine everywhere, and orders by code point.
  store->set("\xe2\x82\xac", json("\xc3\xa9t\xc3\xa9"));  // "€" -> "été"
  store->set("z", json("\xc3\xa9t\xc3\xa9"));
  EXPECT_THAT(store->keys(), ElementsAre("z", "\xe2\x82\xac"));
  EXPECT_THAT(store->index("echo").get("\xc3\xa9t\xc3\xa9"),
              ElementsAre(IndexMatch{"z", nullptr}, IndexMatch{"\xe2\x82\xac", nullptr}));
}

// One limit for both: PostgreSQL alone would take keys up to ~2.7 kB and then refuse
// with a btree error (kBackend), the memory backend any length.
TEST_P(StoreConformance, KeysAndIndexKeysLongerThanTheLimitAreRefused) {
  auto store = open({IndexSpec{"echo", 1, [](std::string_view, const json& v) {
                                 return std::vector<IndexEntry>{{std::string(v.as_string()), nullptr}};
                               }}});
  // At the limit, counted in bytes: a key and an index key of kMaxKeyBytes each, the
  // largest index entry there can be, and a key of multi-byte characters.
  const std::string longest(kMaxKeyBytes, 'k');
  const std::string longest_index_key(kMaxKeyBytes, 'i');
  std::string euros;
  while (euros.size() + 3 <= kMaxKeyBytes) euros += "\xe2\x82\xac";  // "€", 3 bytes
  euros.resize(kMaxKeyBytes, 'e');
  store->set(longest, json(longest_index_key));
  store->set(euros, json("x"));
  EXPECT_EQ(store->get(longest).value(), json(longest_index_key));
  EXPECT_THAT(store->keys(), ElementsAre(longest, euros));
  EXPECT_THAT(store->index("echo").get(longest_index_key), ElementsAre(IndexMatch{longest, nullptr}));

  for (const std::string& too_long : {std::string(kMaxKeyBytes + 1, 'k'), euros + "\xe2\x82\xac",
                                      std::string(1 << 20, 'k')}) {
    EXPECT_THAT(error_of(StoreError::Code::kInvalidArgument, [&] { store->set(too_long, json("x")); }),
                AllOf(HasSubstr("store \"" + name_ + "\": key \""),
                      HasSubstr("... is " + std::to_string(too_long.size()) + " bytes long, over the limit of 1024 bytes")));
    error_of(StoreError::Code::kInvalidArgument, [&] { store->get(too_long); });
    error_of(StoreError::Code::kInvalidArgument, [&] { store->has(too_long); });
    error_of(StoreError::Code::kInvalidArgument, [&] { store->del(too_long); });
    error_of(StoreError::Code::kInvalidArgument,
             [&] { store->modify(too_long, [](const std::optional<json>&) { return json("x"); }); });
    error_of(StoreError::Code::kInvalidArgument, [&] { store->keys(KeyPage{too_long, 10}); });
    error_of(StoreError::Code::kInvalidArgument, [&] { store->index("echo").get(too_long); });
    // An indexer's key over the limit fails the write before anything is written.
    EXPECT_THAT(error_of(StoreError::Code::kInvalidArgument, [&] { store->set("short", json(too_long)); }),
                HasSubstr("index \"echo\" of store \"" + name_ + "\": for key \"short\", the index key \""));
    EXPECT_FALSE(store->has("short"));
  }
  EXPECT_THAT(store->keys(), ElementsAre(longest, euros));
}

TEST_P(StoreConformance, ForEachKeyStopsWhenAskedAndRefusesPageSizeZero) {
  auto store = open();
  for (const char* k : {"a", "b", "c", "d", "e"}) store->set(k, json(k));
  std::vector<std::string> seen;
  store->for_each_key([&](const std::string& k) { seen.push_back(k); return k != "c"; }, 2);
  EXPECT_THAT(seen, ElementsAre("a", "b", "c"));
  error_of(StoreError::Code::kInvalidArgument, [&] { store->for_each_key([](const std::string&) { return true; }, 0); });
  EXPECT_TRUE(store->keys(KeyPage{"", 0}).empty());
  EXPECT_THAT(store->keys(KeyPage{"e", 10}), ElementsAre());
  EXPECT_THAT(store->keys(KeyPage{"bb", 10}), ElementsAre("c", "d", "e"));
}

TEST_P(StoreConformance, IndexTablesOfDifferentStoresNeverCollide) {
  // Joined naively, both would be "<name>__b__c".
  auto tag = [](const char* t) {
    return [t](std::string_view, const json&) { return std::vector<IndexEntry>{{"k", json(t)}}; };
  };
  auto first = backend_->open(StoreOptions{name_ + "__b", {IndexSpec{"c", 1, tag("first")}}});
  auto second = backend_->open(StoreOptions{name_, {IndexSpec{"b__c", 1, tag("second")}}});
  first->set("x", json(1));
  second->set("y", json(2));
  EXPECT_THAT(first->index("c").get("k"), ElementsAre(IndexMatch{"x", json("first")}));
  EXPECT_THAT(second->index("b__c").get("k"), ElementsAre(IndexMatch{"y", json("second")}));
}

TEST_P(StoreConformance, DeleteRemovesEveryEntryOfAnItem) {
  auto store = open({by_tag()});
  store->set("a", order("x", 1, {"red", "big", "red"}));
  store->set("b", order("y", 2, {"red"}));
  EXPECT_TRUE(store->del("a"));
  EXPECT_THAT(store->index("by-tag").get("red"), ElementsAre(IndexMatch{"b", json("red")}));
  EXPECT_TRUE(store->index("by-tag").get("big").empty());
  store->set("b", order("y", 2, {}));  // an overwrite with no entries removes the old ones
  EXPECT_TRUE(store->index("by-tag").get("red").empty());
}

TEST_P(StoreConformance, FailedRebuildLeavesTheOldIndex) {
  {
    auto store = open({by_customer(1)});
    store->set("o1", order("alice", 10));
  }
  IndexSpec broken{"by-customer", 2, [](std::string_view, const json&) -> std::vector<IndexEntry> {
                     return {{"", nullptr}};
                   }};
  error_of(StoreError::Code::kInvalidArgument, [&] { open({broken}); });
  auto store = open({by_customer(1)});  // still version 1: no rebuild, old entries intact
  EXPECT_THAT(store->index("by-customer").get("alice"), ElementsAre(IndexMatch{"o1", json(10)}));
}

TEST_P(StoreConformance, TypedModifyOfAWrongValueIsAConversionErrorAndWritesNothing) {
  auto store = open();
  Store<Order> orders(*store);
  store->set("o", json{{"customer", "bob"}});  // no total, no tags
  const std::string message = error_of(StoreError::Code::kConversion, [&] {
    orders.modify("o", [](const std::optional<Order>& cur) { return cur.value_or(Order{}); });
  });
  EXPECT_THAT(message, HasSubstr("store value at key \"o\" is not a valid shop::Order"));
  EXPECT_EQ(store->get("o").value(), (json{{"customer", "bob"}}));
  std::vector<std::string> keys;
  orders.for_each_key([&](const std::string& k) { keys.push_back(k); return true; });
  EXPECT_THAT(keys, ElementsAre("o"));
}

// Store<T> reads with the endpoints' codec: tolerant of fields it does not know, strict
// about the ones it does, naming the field's path.
TEST_P(StoreConformance, ATypedStoreIgnoresUnknownFieldsAndNamesAMissingOrMistypedOne) {
  auto store = open();
  Store<Order> orders(*store);
  store->set("newer", json{{"customer", "ann"}, {"total", 3}, {"tags", boost::json::array()}, {"coupon", "X1"}});
  EXPECT_EQ(orders.get("newer").value(), (Order{"ann", 3, {}}));

  store->set("no-total", json{{"customer", "bob"}, {"tags", boost::json::array()}});
  EXPECT_EQ(error_of(StoreError::Code::kConversion, [&] { orders.get("no-total"); }),
            "store value at key \"no-total\" is not a valid shop::Order: $.total: missing");
  store->set("bad-tag", json{{"customer", "bob"}, {"total", 1}, {"tags", json{"a", 2}}});
  EXPECT_EQ(error_of(StoreError::Code::kConversion, [&] { orders.get("bad-tag"); }),
            "store value at key \"bad-tag\" is not a valid shop::Order: $.tags[1]: expected string, got number 2");
}

// A typed index receives the value as its type; a value of another shape fails the write,
// naming the index and the field, and nothing is written.
TEST_P(StoreConformance, ATypedIndexReceivesTypedValuesAndRefusesAValueOfAnotherShape) {
  const IndexSpec by_tag = typed_index<Order>("by-tag", 1, [](std::string_view, const Order& o) {
    std::vector<IndexEntry> entries;
    for (const std::string& tag : o.tags) entries.push_back({tag, o.total});
    return entries;
  });
  auto store = open({by_tag});
  Store<Order> orders(*store);
  orders.set("o1", Order{"ann", 5, {"gift", "red"}});
  orders.set("o2", Order{"bob", 7, {"red"}});
  EXPECT_THAT(store->index("by-tag").get("red"), ElementsAre(IndexMatch{"o1", json(5)}, IndexMatch{"o2", json(7)}));

  const std::string message =
      error_of(StoreError::Code::kConversion, [&] { store->set("o3", json{{"customer", "cy"}, {"total", "lots"}}); });
  EXPECT_THAT(message, HasSubstr("index \"by-tag\": the value at key \"o3\" is not a valid shop::Order: "
                                 "$.total: expected integer, got string"));
  EXPECT_FALSE(store->has("o3"));
}

// update: fn decides to write, to leave the value as it is, or to delete; index entries
// follow each outcome.
TEST_P(StoreConformance, UpdateWritesLeavesAsItIsOrDeletesAsItsFunctionSays) {
  auto store = open({by_customer()});
  Store<Order> orders(*store);
  const std::optional<Order> created = orders.update("o1", [](const std::optional<Order>& cur) -> std::optional<Order> {
    EXPECT_FALSE(cur.has_value());
    return Order{"ann", 5, {}};
  });
  EXPECT_EQ(created, (Order{"ann", 5, {}}));
  EXPECT_THAT(store->index("by-customer").get("ann"), ElementsAre(IndexMatch{"o1", json(5)}));

  const std::optional<Order> kept = orders.update("o1", [](const std::optional<Order>& cur) { return cur; });
  EXPECT_EQ(kept, (Order{"ann", 5, {}}));
  EXPECT_EQ(orders.get("o1"), (Order{"ann", 5, {}}));

  const std::optional<Order> gone =
      orders.update("o1", [](const std::optional<Order>&) -> std::optional<Order> { return std::nullopt; });
  EXPECT_FALSE(gone.has_value());
  EXPECT_FALSE(store->has("o1"));
  EXPECT_TRUE(store->index("by-customer").get("ann").empty());
  // Deleting what is not there is not an error.
  EXPECT_FALSE(orders.update("o1", [](const std::optional<Order>&) -> std::optional<Order> { return std::nullopt; }));
}

TEST_P(StoreConformance, InsertWritesAnAbsentKeyAndRefusesAPresentOne) {
  auto store = open({by_customer()});
  Store<Order> orders(*store);
  orders.insert("o1", Order{"ann", 5, {}});
  EXPECT_EQ(orders.get("o1"), (Order{"ann", 5, {}}));
  const std::string message =
      error_of(StoreError::Code::kAlreadyExists, [&] { orders.insert("o1", Order{"bob", 9, {}}); });
  EXPECT_THAT(message, HasSubstr("key \"o1\" already exists"));
  EXPECT_EQ(orders.get("o1"), (Order{"ann", 5, {}}));  // nothing written
  EXPECT_TRUE(store->index("by-customer").get("bob").empty());
  try {
    orders.insert("o1", Order{"bob", 9, {}});
  } catch (const StoreError& e) {
    EXPECT_EQ(static_cast<const Error&>(e).code(), ErrorCode::kAlreadyExists);  // 409 through an API
  }
}

INSTANTIATE_TEST_SUITE_P(
    Backends, StoreConformance,
    ::testing::Values(BackendParam{"Memory", [] { return std::make_unique<MemoryBackendFactory>(); }},
                      BackendParam{"Postgres", [] { return std::make_unique<PostgresBackendFactory>(); }}),
    [](const ::testing::TestParamInfo<BackendParam>& info) { return info.param.name; });

}  // namespace
}  // namespace snap
