// snap/json_struct.h: every supported shape round-trips exactly; unknown fields are
// ignored; a missing or mistyped field is named with its path and the expected type;
// non-finite numbers are refused both ways; one nesting limit, kJsonMaxDepth.
#include "snap/json_struct.h"

#include <cmath>
#include <limits>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace snap {
namespace {

struct Inner {
  std::string city;
  std::optional<std::string> zip;
};
BOOST_DESCRIBE_STRUCT(Inner, (), (city, zip))

struct Outer {
  std::string name;
  int count = 0;
  bool flag = false;
  double ratio = 0;
  std::uint8_t small = 0;
  std::vector<std::string> tags;
  std::vector<bool> bits;
  Inner home;
  std::vector<Inner> past;
  std::optional<int> rank;
  std::map<std::string, int> scores;
};
BOOST_DESCRIBE_STRUCT(Outer, (), (name, count, flag, ratio, small, tags, bits, home, past, rank, scores))

bool operator==(const Inner& a, const Inner& b) { return a.city == b.city && a.zip == b.zip; }
bool operator==(const Outer& a, const Outer& b) {
  return a.name == b.name && a.count == b.count && a.flag == b.flag && a.ratio == b.ratio && a.small == b.small &&
         a.tags == b.tags && a.bits == b.bits && a.home == b.home && a.past == b.past && a.rank == b.rank &&
         a.scores == b.scores;
}

std::string error_of(std::string_view text) {
  try {
    decode_json<Outer>(text);
  } catch (const JsonError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(JsonStruct, EveryShapeRoundTripsExactly) {
  Outer full{std::string("a\0b é ✓", 10), -42, true, 0.1, 255, {"x", "", "y"}, {true, false}, Inner{"Oslo", "0150"},
             {Inner{"", std::nullopt}, Inner{"Bergen", ""}}, 7, {{"k", 0}}};
  EXPECT_EQ(decode_json<Outer>(encode_json(full)), full);
  EXPECT_EQ(decode_json<Outer>(encode_json(full)).name.size(), 10u);
}

TEST(JsonStruct, ZeroFalseAndEmptyAreWrittenNotDropped) {
  const Outer zero{};
  EXPECT_EQ(encode_json(zero),
            R"({"name":"","count":0,"flag":false,"ratio":0E0,"small":0,"tags":[],"bits":[],"home":{"city":""},)"
            R"("past":[],"scores":{}})");
  Outer with_zero_rank;
  with_zero_rank.rank = 0;
  EXPECT_EQ(decode_json<Outer>(encode_json(with_zero_rank)).rank, std::optional<int>(0));
}

TEST(JsonStruct, TopLevelScalarsAndVectors) {
  EXPECT_EQ(decode_json<std::string>(encode_json(std::string("\0\x01 ü", 5))), std::string("\0\x01 ü", 5));
  EXPECT_EQ(decode_json<int>("0"), 0);
  EXPECT_EQ(decode_json<std::vector<int>>("[1,2,3]"), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(decode_json<std::optional<int>>("null"), std::nullopt);
}

TEST(JsonStruct, UnknownFieldsAreIgnored) {
  const auto o = decode_json<Inner>(R"({"city":"Oslo","country":{"code":"NO"},"zip":null,"extra":[1,2]})");
  EXPECT_EQ(o.city, "Oslo");
  EXPECT_EQ(o.zip, std::nullopt);
}

TEST(JsonStruct, OptionalMayBeAbsentOrNull) {
  EXPECT_EQ(decode_json<Inner>(R"({"city":"x"})").zip, std::nullopt);
  EXPECT_EQ(decode_json<Inner>(R"({"city":"x","zip":null})").zip, std::nullopt);
  EXPECT_EQ(encode_json(Inner{"x", std::nullopt}), R"({"city":"x"})");
}

TEST(JsonStruct, MissingFieldIsNamedWithItsPath) {
  EXPECT_EQ(error_of(R"({"count":1})"), "$.name: missing");
  EXPECT_EQ(error_of(R"({"name":"n","count":1,"flag":true,"ratio":1,"small":1,"tags":[],"bits":[],)"
                     R"("home":{"city":"c"},"past":[{"city":"a"},{"zip":"z"}],"scores":{}})"),
            "$.past[1].city: missing");
}

TEST(JsonStruct, MistypedFieldNamesTheExpectedTypeAndWhatCame) {
  EXPECT_EQ(error_of(R"({"name":5})"), "$.name: expected string, got number 5");
  EXPECT_EQ(error_of(R"({"name":"n","count":"7"})"), "$.count: expected integer, got string");
  EXPECT_EQ(error_of(R"({"name":"n","count":1.5})"), "$.count: expected integer, got number 1.5E0");
  EXPECT_EQ(error_of(R"({"name":"n","count":1,"flag":1})"), "$.flag: expected boolean, got number 1");
  EXPECT_EQ(error_of(R"({"name":"n","count":1,"flag":true,"ratio":1,"small":256})"),
            "$.small: expected integer in range, got number 256");
  EXPECT_EQ(error_of(R"({"name":"n","count":1,"flag":true,"ratio":1,"small":1,"tags":["a",2]})"),
            "$.tags[1]: expected string, got number 2");
  EXPECT_EQ(error_of(R"({"name":"n","count":1,"flag":true,"ratio":1,"small":1,"tags":[],"bits":[],"home":[]})"),
            "$.home: expected object, got array");
  EXPECT_EQ(error_of(R"({"name":"n","count":1,"flag":true,"ratio":1,"small":1,"tags":[],"bits":[],)"
                     R"("home":{"city":"c"},"past":[],"scores":{"a":"x"}})"),
            "$.scores.a: expected integer, got string");
  EXPECT_EQ(error_of("[]"), "$: expected object, got array");
}

TEST(JsonStruct, IntegerRangesAreChecked) {
  EXPECT_THROW(decode_json<int>("2147483648"), JsonError);
  EXPECT_EQ(decode_json<std::int64_t>("-9223372036854775808"), INT64_MIN);
  EXPECT_EQ(decode_json<std::uint64_t>("18446744073709551615"), UINT64_MAX);
  EXPECT_THROW(decode_json<unsigned>("-1"), JsonError);
}

TEST(JsonStruct, TextThatIsNotOneJsonValueIsRefused) {
  try {
    decode_json<int>("1 2");
    FAIL() << "no error";
  } catch (const JsonError& e) {
    EXPECT_EQ(e.path(), "$");
    EXPECT_THAT(e.problem(), ::testing::StartsWith("not JSON: "));
  }
  EXPECT_THROW(decode_json<Inner>(R"({"city":)"), JsonError);
  EXPECT_THROW(decode_json<Inner>(""), JsonError);
}

TEST(JsonStruct, NumbersTooLargeForTheirTypeAreRefusedNamingTheField) {
  // The parser reads 1e999999 as an infinity.
  EXPECT_EQ(error_of(R"({"name":"n","count":1,"flag":true,"ratio":1e999999})"),
            "$.ratio: expected finite number, got number out of range");
  EXPECT_EQ(error_of(R"({"name":"n","count":1,"flag":true,"ratio":-1e999999})"),
            "$.ratio: expected finite number, got number out of range");
  EXPECT_THROW(decode_json<double>("1e999999"), JsonError);
  EXPECT_EQ(decode_json<double>("1e308"), 1e308);
  EXPECT_THROW(decode_json<float>("1e300"), JsonError);  // a double, but no float
  EXPECT_EQ(decode_json<float>("1e38"), 1e38f);
  EXPECT_THROW(decode_json<boost::json::value>("[1,{\"a\":1e999999}]"), JsonError);
}

TEST(JsonStruct, NonFiniteNumbersAreNotWritten) {
  const auto error_of_encoding = [](const auto& value) -> std::string {
    try {
      return "(no error) " + encode_json(value);
    } catch (const JsonError& e) {
      return e.what();
    }
  };
  Outer o;
  o.ratio = std::numeric_limits<double>::infinity();
  EXPECT_EQ(error_of_encoding(o), "$.ratio: not JSON: a non-finite number (JSON has no NaN or infinity)");
  EXPECT_EQ(error_of_encoding(std::vector<double>{1, std::nan("")}),
            "$[1]: not JSON: a non-finite number (JSON has no NaN or infinity)");
  EXPECT_EQ(error_of_encoding(std::map<std::string, float>{{"k", -std::numeric_limits<float>::infinity()}}),
            "$.k: not JSON: a non-finite number (JSON has no NaN or infinity)");
  EXPECT_EQ(error_of_encoding(boost::json::value{{"a", boost::json::array{1, std::nan("")}}}),
            "$.a[1]: not JSON: a non-finite number (JSON has no NaN or infinity)");
  EXPECT_THROW(to_json(o), JsonError);
}

std::string nested(std::size_t levels) { return std::string(levels, '[') + std::string(levels, ']'); }

TEST(JsonStruct, DocumentsNestUpToKJsonMaxDepth) {
  EXPECT_NO_THROW(decode_json<boost::json::value>(nested(kJsonMaxDepth)));
  EXPECT_NO_THROW(parse_json(nested(kJsonMaxDepth)));
  try {
    decode_json<boost::json::value>(nested(kJsonMaxDepth + 1));
    FAIL() << "no error";
  } catch (const JsonError& e) {
    EXPECT_EQ(e.path(), "$");
    EXPECT_EQ(e.problem(), "nested deeper than 32 arrays and objects (kJsonMaxDepth) at offset 32");
  }
  EXPECT_THROW(parse_json(nested(kJsonMaxDepth + 1)), JsonError);
}

TEST(JsonStruct, TheNestingLimitCountsFieldsThatAreIgnored) {
  // The object is level 1, so its field may nest kJsonMaxDepth - 1 more.
  EXPECT_EQ(decode_json<Inner>(R"({"city":"x","ignored":)" + nested(kJsonMaxDepth - 1) + "}").city, "x");
  EXPECT_THROW(decode_json<Inner>(R"({"city":"x","ignored":)" + nested(kJsonMaxDepth) + "}"), JsonError);
}

}  // namespace
}  // namespace snap
