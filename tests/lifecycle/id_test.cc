#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "snap/id.h"

namespace snap {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(Id, IsHierarchicalAndDeterministic) {
  const Id app = Id::root("my-app");
  const Id db = app.child("customer-server").child("db");
  EXPECT_EQ(db.str(), "my-app.customer-server.db");
  EXPECT_THAT(db.segments(), ElementsAre("my-app", "customer-server", "db"));
  EXPECT_EQ(db.name(), "db");
  EXPECT_TRUE(app.is_root());
  EXPECT_FALSE(db.is_root());
  EXPECT_EQ(db, Id::root("my-app").child("customer-server").child("db"));
}

TEST(Id, EscapesSeparatorsInsideSegments) {
  const Id a = Id::root("app").child("a.b");
  const Id b = Id::root("app").child("a").child("b");
  EXPECT_EQ(a.str(), "app.a%2Eb");
  EXPECT_NE(a, b);
  EXPECT_THAT(a.segments(), ElementsAre("app", "a.b"));
  EXPECT_EQ(Id::root("x").child("100%").str(), "x.100%25");
  EXPECT_EQ(Id::root("x").child("100%").name(), "100%");
  EXPECT_THROW(Id::root(""), std::invalid_argument);
  EXPECT_THROW(Id::root("x").child(""), std::invalid_argument);
}

TEST(Id, SafeNameIsReadableBoundedAndCollisionResistant) {
  const Id db = Id::root("my-app").child("customer-server").child("db");
  const std::string safe = db.safe_name();
  EXPECT_THAT(safe, StartsWith("my_app_customer_server_db_"));
  EXPECT_TRUE(std::regex_match(safe, std::regex("[a-z][a-z0-9_]{0,62}"))) << safe;
  EXPECT_EQ(db.env_name(), [&] {
    std::string s = safe;
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  }());

  // Ids that read alike still get different names.
  std::set<std::string> names;
  for (const Id& id : {Id::root("a").child("b-c"), Id::root("a").child("b").child("c"), Id::root("a").child("b.c"),
                       Id::root("a").child("B-C"), Id::root("a").child("b_c")}) {
    EXPECT_TRUE(names.insert(id.safe_name()).second) << id.str() << " -> " << id.safe_name();
  }

  // Long ids are cut to PostgreSQL's 63, and still differ.
  const std::string long_segment(200, 'x');
  const Id long1 = Id::root("app").child(long_segment).child("one");
  const Id long2 = Id::root("app").child(long_segment).child("two");
  EXPECT_LE(long1.safe_name().size(), 63u);
  EXPECT_NE(long1.safe_name(), long2.safe_name());
  EXPECT_TRUE(std::regex_match(Id::root("9lives").safe_name(), std::regex("[a-z][a-z0-9_]*")));
  EXPECT_TRUE(std::regex_match(Id::root("ü-ñ").safe_name(), std::regex("[a-z][a-z0-9_]*")));
}

}  // namespace
}  // namespace snap

namespace snap {
namespace {

TEST(Id, ServiceNameIsAReadableDnsLabelBelowTheApp) {
  const Id app = Id::root("my-app");
  EXPECT_EQ(app.child("customer-server").child("api").service_name(), "customer-server-api");
  EXPECT_EQ(app.child("Billing_API").child("v2.0").service_name(), "billing-api-v2-0");
  EXPECT_EQ(app.service_name(), "my-app");
  const std::string long_name = app.child(std::string(100, 'x')).child("api").service_name();
  EXPECT_EQ(long_name.size(), 63u);
  EXPECT_THAT(long_name, ::testing::MatchesRegex("x{54}-[0-9a-f]{8}"));
  EXPECT_NE(long_name, app.child(std::string(100, 'x')).child("web").service_name());
}

TEST(Id, ParseIsTheInverseOfStr) {
  const Id odd = Id::root("my.app").child("50%").child("db");
  EXPECT_EQ(Id::parse(odd.str()), odd);
  EXPECT_THAT(Id::parse("my-app.customer-server.db").segments(), ElementsAre("my-app", "customer-server", "db"));
  EXPECT_TRUE(Id::parse("solo").is_root());
  EXPECT_THROW(Id::parse("a..b"), std::invalid_argument);
  EXPECT_THROW(Id::parse(""), std::invalid_argument);
}

}  // namespace
}  // namespace snap
