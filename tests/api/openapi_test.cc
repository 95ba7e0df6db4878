// OpenAPI descriptions from the endpoint types (docs/api.md, "OpenAPI"): the documents
// the build writes for the customer example and for openapi_app.cc (every shape a
// request or response can have) against golden files, the same document from the log's
// manifest alone, GET /openapi.json from a running server, operationIds and schema names
// that would be ambiguous refused at startup. SNAP_UPDATE_GOLDEN=1 rewrites the golden
// files (tests/api/golden).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "../format/log_test_util.h"
#include "../support/fake_system.h"
#include "../support/subprocess.h"
#include "local_run.h"
#include "openapi.h"
#include "snap/api_server.h"
#include "snap/app.h"
#include "snap/lifecycle.h"
#include "snap/log_reader.h"
#include "snap/memory_env.h"
#include "snap/openapi_emitter.h"
#include "snap/password.h"

// Types for the refused declarations below: names that only differ in punctuation, and
// a struct named like the error format's schema.
namespace clash {
template <int N>
struct Box {
  int value = 0;
  BOOST_DESCRIBE_CLASS(Box, (), (value), (), ())
};
struct Box_1 {
  int value = 0;
};
BOOST_DESCRIBE_STRUCT(Box_1, (), (value))
struct Error {
  std::string why;
};
BOOST_DESCRIBE_STRUCT(Error, (), (why))
}  // namespace clash

struct Error {
  std::string why;
};
BOOST_DESCRIBE_STRUCT(Error, (), (why))

namespace snap {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Id {
  std::string id;
};
BOOST_DESCRIBE_STRUCT(Id, (), (id))

struct Node {
  std::string name;
  std::vector<Node> children;
};
BOOST_DESCRIBE_STRUCT(Node, (), (name, children))

void expect_golden(const std::string& name, const std::string& content) {
  const fs::path golden = fs::path(SNAP_API_GOLDEN_DIR) / name;
  if (std::getenv("SNAP_UPDATE_GOLDEN") != nullptr) {
    fs::create_directories(golden.parent_path());
    std::ofstream(golden, std::ios::binary) << content;
  }
  EXPECT_EQ(content, testing::read_file(golden)) << "golden " << golden << " (SNAP_UPDATE_GOLDEN=1 rewrites it)";
}

// `program build --out DIR/out`; the names of DIR/out/openapi's files.
std::set<std::string> build(const std::string& program, const testing::TempDir& dir) {
  const testing::ProcessResult built = testing::run_process({program, "build", "--out", (dir / "out").string()});
  EXPECT_EQ(built.exit_code, 0) << built.err;
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir / "out/openapi")) names.insert(entry.path().filename().string());
  return names;
}

// The document of server `id` made from the manifest in `log` alone, as a tool would.
std::string document_from_log(const fs::path& log, const std::string& id) {
  const auto reader = LogReader::open(log);
  for (const ComponentEntry& c : reader->manifest().components) {
    if (c.id != id) continue;
    return api_detail::openapi_document(id, boost::json::parse(c.config).as_object());
  }
  return "no component " + id;
}

TEST(OpenApi, TheCustomerExampleBuildWritesItsDocument) {
  testing::TempDir dir;
  EXPECT_THAT(build(SNAP_CUSTOMER_APP, dir), ElementsAre("customer-server-api.json"));
  const std::string document = testing::read_file(dir / "out/openapi/customer-server-api.json");
  expect_golden("customer-server-api.json", document);
  EXPECT_EQ(document_from_log(dir / "out/snapshot.snaplog", "customer.customer-server.api"), document);
}

// Path, query and body parameters, optional members, nested structs, vectors, maps,
// every integer kind, void requests and responses, two structs of one name: one
// document per server, named after its service.
TEST(OpenApi, TheTestProgramsDocumentsAreOnePerServer) {
  testing::TempDir dir;
  EXPECT_THAT(build(SNAP_OPENAPI_APP, dir), ElementsAre("shop-api.json", "status.json"));
  const std::string shop = testing::read_file(dir / "out/openapi/shop-api.json");
  const std::string status = testing::read_file(dir / "out/openapi/status.json");
  expect_golden("shop-api.json", shop);
  expect_golden("status.json", status);
  EXPECT_EQ(document_from_log(dir / "out/snapshot.snaplog", "openapi-app.shop.api"), shop);
  EXPECT_EQ(document_from_log(dir / "out/snapshot.snaplog", "openapi-app.status"), status);

  // What the goldens hold, said once more where a reader looks for it.
  const boost::json::value doc = boost::json::parse(shop);
  EXPECT_EQ(doc.at("openapi").as_string(), "3.1.0");
  EXPECT_EQ(doc.at("info").at("title").as_string(), "openapi-app.shop.api");
  EXPECT_EQ(doc.at("info").at("version").as_string(), "0");
  const auto& get_item = doc.at("paths").at("/api/items/{id}").at("get");
  EXPECT_EQ(get_item.at("operationId").as_string(), "getApiItemsById");
  EXPECT_EQ(boost::json::serialize(get_item.at("parameters")),
            R"([{"in":"path","name":"id","required":true,"schema":{"type":"string"}},)"
            R"({"in":"query","name":"limit","required":false,)"
            R"("schema":{"format":"int32","maximum":2147483647,"minimum":-2147483648,"type":"integer"}},)"
            R"({"in":"query","name":"verbose","required":true,"schema":{"type":"boolean"}}])");
  const auto& schemas = doc.at("components").at("schemas");
  EXPECT_EQ(schemas.at("Limits").at("properties").at("u64").at("maximum").as_uint64(), 18446744073709551615ull);
  EXPECT_EQ(schemas.at("Limits").at("properties").at("i8").at("minimum").as_int64(), -128);
  EXPECT_TRUE(schemas.as_object().contains("shop.Address"));
  EXPECT_TRUE(schemas.as_object().contains("carrier.Address"));
  EXPECT_FALSE(schemas.as_object().contains("Address"));
  EXPECT_EQ(boost::json::serialize(schemas.at("Item").at("required")),
            R"(["id","name","tags","stock","address","past","extra"])");
  // PUT /api/items/{id}: the path's id wins over the body's, so the body need not have it.
  const auto& put_body = doc.at("paths").at("/api/items/{id}").at("put").at("requestBody");
  EXPECT_FALSE(put_body.at("content").at("application/json").at("schema").at("properties").as_object().contains("id"));
  const auto& reset = doc.at("paths").at("/api/reset").at("post");
  EXPECT_FALSE(reset.as_object().contains("requestBody"));
  EXPECT_TRUE(reset.at("responses").as_object().contains("204"));
  EXPECT_EQ(reset.at("responses").at("404").at("$ref").as_string(), "#/components/responses/NotFound");
}

// The emitter writes through the app's Env, as every build output does: in memory here.
TEST(OpenApi, TheBuildWritesEachDocumentThroughTheEnv) {
  MemoryEnv env;
  const auto define = [](App& app) {
    app.scope("ids").add<ApiServer>("api").endpoint<Id, Id>("GET", "/ids/{id}", [](const Id& id) { return id; });
    app.add<ApiServer>("quiet");
  };
  build_app("mem", define, env, BuildOptions{"/work/out", {}}, {openapi_emitter()});
  EXPECT_THAT(env.list_directory("/work/out/openapi"), ElementsAre("ids-api.json", "quiet.json"));
  EXPECT_THAT(env.read_file("/work/out/openapi/ids-api.json"), HasSubstr("\"operationId\": \"getIdsById\""));
  EXPECT_THAT(env.read_file("/work/out/openapi/quiet.json"), HasSubstr("\"paths\": {}"));
}

// Served to callers (and on loopback) by a running server of a --local build: the same
// bytes the build wrote. The test program's command calls every endpoint meanwhile.
TEST(OpenApi, ARunningServerServesItsDocument) {
  testing::LocalBuild build(SNAP_OPENAPI_APP);
  const unsigned short port = build.port("openapi-app.shop.api.port");
  testing::BackgroundProcess& api = build.start("shop.api");
  testing::LocalBuild::wait_healthy(api, port);
  testing::BackgroundProcess& status = build.start("status");
  testing::LocalBuild::wait_healthy(status, build.port("openapi-app.status.port"));

  const testing::RawHttpReply reply = testing::raw_http_exchange(
      port, "GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(reply.status, 200) << reply.head;
  EXPECT_THAT(reply.head, HasSubstr("Content-Type: application/json"));
  EXPECT_EQ(reply.body, testing::read_file(build.dir() / "out/openapi/shop-api.json"));

  testing::BackgroundProcess& exercise = build.start("exercise");
  ASSERT_TRUE(exercise.wait_for_exit(std::chrono::seconds(60))) << build.describe();
  EXPECT_EQ(exercise.exit_code(), 0) << build.describe();
  EXPECT_THAT(exercise.out(), HasSubstr("get {\"id\":\"shoe 1\",\"name\":\"Red shoe\",\"tags\":[\"red\"],"));
  EXPECT_THAT(exercise.out(), HasSubstr("counter {\"value\":42}\n"));
  EXPECT_THAT(exercise.out(), HasSubstr("version {\"version\":\"1.0.0\"}\n"));
}

// The manifest records each endpoint's request and response by reference into the
// server's "schemas"; a void one is left out.
TEST(OpenApi, TheManifestRecordsEachEndpointsSchemas) {
  testing::FakeSystem system;
  auto app = start_dev_app("described", [](App& app) {
    auto& api = app.add<ApiServer>("api");
    api.endpoint<Id, std::vector<Id>>("GET", "/ids/{id}", [](const Id& id) { return std::vector<Id>{id}; });
    api.endpoint<void, void>("POST", "/reset", [] {});
  }, system, {});
  std::optional<boost::json::value> config;
  for (const ComponentEntry& c : app->manifest().components) {
    if (c.id == "described.api") config = boost::json::parse(c.config);
  }
  ASSERT_TRUE(config);
  EXPECT_EQ(boost::json::serialize(config->at("endpoints")),
            R"([{"method":"GET","path":"/ids/{id}","idempotent":false,"request":{"$ref":"#/schemas/Id"},)"
            R"("response":{"type":"array","items":{"$ref":"#/schemas/Id"}}},)"
            R"({"method":"POST","path":"/reset","idempotent":false}])");
  EXPECT_EQ(boost::json::serialize(config->at("schemas")),
            R"({"Id":{"type":"object","properties":{"id":{"type":"string"}},"required":["id"]}})");
}

// A server that checks its callers says how: a bearer token, required by every operation
// (its 401 and 403 are among each operation's responses already).
TEST(OpenApi, AnAuthenticatingServerRequiresABearerToken) {
  testing::FakeSystem system;
  auto app = start_dev_app("guarded", [](App& app) {
    auto& key = app.add<Password>("key");
    auto& keyed = app.add<ApiServer>("keyed");
    keyed.authenticate(bearer_token(key));
    keyed.endpoint<void, void>("POST", "/reset", [] {});
    app.add<ApiServer>("hooked").authenticate([](const RequestInfo&) { return Principal{"guest", {}}; });
    app.add<ApiServer>("open");
  }, system, {});
  const auto document = [&](const std::string& id) {
    for (const Persona* p : app->personas()) {
      if (p->id().str() == id) return boost::json::parse(dynamic_cast<const ApiServer&>(*p).openapi());
    }
    return boost::json::value();
  };
  const boost::json::value keyed = document("guarded.keyed");
  EXPECT_EQ(boost::json::serialize(keyed.at("security")), R"([{"bearer":[]}])");
  EXPECT_EQ(boost::json::serialize(keyed.at("components").at("securitySchemes").at("bearer")),
            R"({"description":"The token is the value of the server's secret.","scheme":"bearer","type":"http"})");
  const boost::json::value hooked = document("guarded.hooked");
  EXPECT_EQ(hooked.at("components").at("securitySchemes").at("bearer").at("scheme").as_string(), "bearer");
  EXPECT_FALSE(document("guarded.open").as_object().contains("security"));
}

// The message of the std::invalid_argument that declaring `define`'s endpoints throws.
std::string refusal(const std::function<void(ApiServer&)>& define) {
  testing::FakeSystem system;
  try {
    start_dev_app("refused", [&](App& app) { define(app.add<ApiServer>("api")); }, system, {});
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(not refused)";
}

TEST(OpenApi, TwoRoutesOfOneOperationIdAreRefusedNamingBoth) {
  EXPECT_EQ(refusal([](ApiServer& api) {
              api.endpoint<Id, void>("GET", "/api/items/{id}", [](const Id&) {});
              api.endpoint<void, void>("GET", "/api/items/by/id", [] {});
            }),
            "ApiServer refused.api: endpoint GET /api/items/by/id: its OpenAPI operationId getApiItemsById is also "
            "the one of GET /api/items/{id} (docs/api.md, \"OpenAPI\"): change one of the paths");
  EXPECT_EQ(refusal([](ApiServer& api) {
              api.endpoint<void, void>("POST", "/order-items", [] {});
              api.endpoint<void, void>("POST", "/orderItems", [] {});
            }),
            "ApiServer refused.api: endpoint POST /orderItems: its OpenAPI operationId postOrderItems is also the "
            "one of POST /order-items (docs/api.md, \"OpenAPI\"): change one of the paths");
}

TEST(OpenApi, TypesThatWouldShareASchemaNameAreRefused) {
  EXPECT_EQ(refusal([](ApiServer& api) {
              api.endpoint<clash::Box<1>, void>("POST", "/a", [](const clash::Box<1>&) {});
              api.endpoint<clash::Box_1, void>("POST", "/b", [](const clash::Box_1&) {});
            }),
            "ApiServer refused.api: endpoint POST /b: the types clash::Box<1> and clash::Box_1 would both be the "
            "schema \"clash.Box_1\" of its OpenAPI description (types of one name in different anonymous "
            "namespaces, or names that differ only in punctuation): rename one");
  EXPECT_EQ(refusal([](ApiServer& api) { api.endpoint<::Error, void>("POST", "/a", [](const ::Error&) {}); }),
            "ApiServer refused.api: endpoint POST /a: the type Error would be the schema \"Error\" of its OpenAPI "
            "description, the error format's: rename it or declare it in a namespace");
  // In a namespace, it takes its qualified name.
  testing::FakeSystem system;
  auto app = start_dev_app("named", [](App& app) {
    app.add<ApiServer>("api").endpoint<clash::Error, void>("POST", "/a", [](const clash::Error&) {});
  }, system, {});
  for (const ComponentEntry& c : app->manifest().components) {
    if (c.id == "named.api") {
      EXPECT_THAT(c.config, HasSubstr(R"("schemas":{"clash.Error":)"));
    }
  }
}

TEST(OpenApi, OpenApiJsonIsTheServersOwnPath) {
  EXPECT_EQ(refusal([](ApiServer& api) { api.endpoint<void, void>("GET", "/openapi.json", [] {}); }),
            "ApiServer refused.api: endpoint GET /openapi.json: /openapi.json is the server's own OpenAPI "
            "description");
}

// An optional that is not a member has no member to leave out: it may be null.
TEST(JsonSchema, AnOptionalOutsideAMemberMayBeNull) {
  const auto ref = [](const TypeShape& shape) { return "#/x/" + type_name(*shape.type); };
  EXPECT_EQ(boost::json::serialize(json_schema(shape_of<std::vector<std::optional<std::int16_t>>>(), ref)),
            R"({"type":"array","items":{"type":["integer","null"],"format":"int32","minimum":-32768,"maximum":32767}})");
  EXPECT_EQ(boost::json::serialize(json_schema(shape_of<std::optional<Id>>(), ref)),
            R"({"anyOf":[{"$ref":"#/x/snap::Id"},{"type":"null"}]})");
  EXPECT_EQ(boost::json::serialize(json_schema(shape_of<std::optional<boost::json::value>>(), ref)), "{}");
  EXPECT_EQ(boost::json::serialize(json_schema(shape_of<std::map<std::string, float>>(), ref)),
            R"({"type":"object","additionalProperties":{"type":"number","format":"float"}})");
}

// A struct that holds a vector of itself is described once, referring to itself.
TEST(JsonSchema, ARecursiveStructRefersToItself) {
  const api_detail::Described d = api_detail::describe_endpoints({{"POST", "/tree", false, &shape_of<Node>, nullptr}});
  EXPECT_EQ(boost::json::serialize(d.schemas),
            R"({"Node":{"type":"object","properties":{"name":{"type":"string"},)"
            R"("children":{"type":"array","items":{"$ref":"#/schemas/Node"}}},"required":["name","children"]}})");
}

TEST(OpenApi, OperationIdsFollowThePath) {
  EXPECT_EQ(api_detail::operation_id("GET", "/api/customer/{id}"), "getApiCustomerById");
  EXPECT_EQ(api_detail::operation_id("POST", "/api/customer"), "postApiCustomer");
  EXPECT_EQ(api_detail::operation_id("DELETE", "/v2/order-items/{item_id}/"), "deleteV2OrderItemsByItemId");
  EXPECT_EQ(api_detail::operation_id("GET", "/"), "get");
}

}  // namespace
}  // namespace snap
