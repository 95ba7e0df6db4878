// `snapshot diff`, `snapshot graph` and `snapshot inspect --manifest` on real build logs.
// diff_app is built in variants (each into its own directory, under one temporary
// root) and the tool runs in that root with relative paths, so its output is the same on
// every machine and is compared against goldens in tests/golden/. To rewrite them after an
// intended change: SNAP_REGENERATE_GOLDEN=1 build/tests/tools/tools_test
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "../support/subprocess.h"
#include "snap/log_reader.h"
#include "snap/system_view.h"

namespace snap {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ProcessOptions;
using testing::ProcessResult;
using testing::run_process;

const fs::path kGoldenDir = SNAP_GOLDEN_DIR;
const std::string kSnapshot = SNAP_TOOL;

bool regenerating() {
  const char* v = std::getenv("SNAP_REGENERATE_GOLDEN");
  return v != nullptr && std::string(v) == "1";
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void expect_golden(const std::string& name, const std::string& actual) {
  const fs::path path = kGoldenDir / name;
  if (regenerating()) std::ofstream(path, std::ios::binary) << actual;
  EXPECT_EQ(actual, read(path)) << "golden " << path << " (SNAP_REGENERATE_GOLDEN=1 rewrites it)";
}

std::map<std::string, std::string> base_env() {
  std::map<std::string, std::string> env;
  if (const char* path = std::getenv("PATH")) env["PATH"] = path;
  return env;
}

// The build directories under one temporary root. ctest runs each test in its own
// process, so a build is made only when a test first names it (the tool's arguments),
// once per process: a test of two builds pays for two, not for all of them.
class Builds : public ::testing::Environment {
 public:
  static inline fs::path root;

  void SetUp() override {
    root = fs::temp_directory_path() / ("snap-tools-test-" + std::to_string(::getpid()));
    fs::remove_all(root);
    fs::create_directories(root);
  }
  void TearDown() override { fs::remove_all(root); }

  // Builds `dir` if it is one of the known builds and not built yet.
  static void ensure(const std::string& dir) {
    // directory -> (variant, $DIFF_REGION); "customer" is the customer example.
    static const std::map<std::string, std::pair<std::string, std::string>> kBuilds = {
        {"base", {"base", "eu-west"}},
        {"base-again", {"base", "eu-west"}},
        {"store-added", {"store-added", "eu-west"}},
        {"store-removed", {"store-removed", "eu-west"}},
        {"store-renamed", {"store-renamed", "eu-west"}},
        {"port", {"port", "eu-west"}},
        {"uses", {"uses", "eu-west"}},
        {"db-removed", {"db-removed", "eu-west"}},
        {"region", {"base", "us-east"}},
        {"customer", {"", ""}},
    };
    const auto it = kBuilds.find(dir);
    if (it == kBuilds.end() || fs::exists(root / dir)) return;
    ProcessOptions options;
    options.environment = base_env();
    std::string program;
    if (dir == "customer") {
#ifdef SNAP_CUSTOMER_APP
      program = SNAP_CUSTOMER_APP;
#else
      return;
#endif
    } else {
      program = SNAP_DIFF_APP;
      (*options.environment)["DIFF_APP_VARIANT"] = it->second.first;
      (*options.environment)["DIFF_REGION"] = it->second.second;
    }
    const ProcessResult r = run_process({program, "build", "--out", (root / dir).string()}, options);
    ASSERT_EQ(r.exit_code, 0) << dir << ": " << r.err;
  }
};

const auto* const kBuilds = ::testing::AddGlobalTestEnvironment(new Builds);

ProcessResult tool(const std::vector<std::string>& args) {
  for (const std::string& arg : args) Builds::ensure(arg.substr(0, arg.find('/')));
  std::vector<std::string> argv{kSnapshot};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessOptions options;
  options.working_directory = Builds::root;
  options.environment = base_env();
  return run_process(argv, options);
}

// Runs the text and JSON diff of two builds, checks both against goldens, returns both.
std::pair<std::string, boost::json::object> diff_pair(const std::string& old_dir, const std::string& new_dir) {
  const ProcessResult text = tool({"diff", old_dir, new_dir});
  EXPECT_EQ(text.exit_code, 1) << text.err;
  EXPECT_EQ(text.err, "");
  expect_golden("diff-" + new_dir + ".txt", text.out);
  const ProcessResult json = tool({"diff", "--json", old_dir, new_dir});
  EXPECT_EQ(json.exit_code, 1) << json.err;
  expect_golden("diff-" + new_dir + ".json", json.out);
  boost::json::value doc = boost::json::parse(json.out);
  EXPECT_TRUE(doc.at("differs").as_bool());
  return {text.out, doc.as_object()};
}

boost::json::array strings(std::initializer_list<const char*> items) {
  boost::json::array a;
  for (const char* s : items) a.emplace_back(s);
  return a;
}

TEST(DiffTest, TheSameProgramBuiltTwiceHasNoDifferences) {
  const ProcessResult text = tool({"diff", "base", "base-again"});
  EXPECT_EQ(text.exit_code, 0) << text.out << text.err;
  EXPECT_EQ(text.out, "--- base\n+++ base-again\nno differences\n");
  const ProcessResult json = tool({"diff", "--json", "base/snapshot.snaplog", "base-again/snapshot.snaplog"});
  EXPECT_EQ(json.exit_code, 0);
  const boost::json::value doc = boost::json::parse(json.out);
  EXPECT_FALSE(doc.at("differs").as_bool());
  EXPECT_TRUE(doc.at("components").at("added").as_array().empty());
  EXPECT_TRUE(doc.at("inputs").as_array().empty());
  EXPECT_TRUE(doc.at("plan").at("services_added").as_array().empty());
}

TEST(DiffTest, AStoreAdded) {
  const auto [text, doc] = diff_pair("base", "store-added");
  EXPECT_THAT(text, HasSubstr("  + shop.invoices  KeyValueStore {\"table\":\"shop_invoices_"));
  const auto& added = doc.at("components").at("added").as_array();
  ASSERT_EQ(added.size(), 1u);
  EXPECT_EQ(added[0].at("id"), "shop.invoices");
  EXPECT_EQ(added[0].at("before"), nullptr);
  EXPECT_EQ(added[0].at("after").at("type"), "KeyValueStore");
  EXPECT_EQ(added[0].at("after").at("uses"), strings({"shop.db"}));
  EXPECT_TRUE(doc.at("components").at("removed").as_array().empty());
  // Nothing uses the new store: no persona and no service changes.
  EXPECT_TRUE(doc.at("personas").as_array().empty());
  EXPECT_TRUE(doc.at("plan").at("reach_gained").as_array().empty());
}

TEST(DiffTest, AStoreRemovedLeavesItsRowsAndTheApiLosesTheDatabase) {
  const auto [text, doc] = diff_pair("base", "store-removed");
  EXPECT_THAT(text, HasSubstr("  - shop.orders  KeyValueStore"));
  EXPECT_THAT(text, HasSubstr("      uses:    shop.api.port, shop.orders -> shop.api.port\n"));
  EXPECT_THAT(text, HasSubstr("  ! store shop.orders (table shop_orders_"));
  EXPECT_THAT(text, HasSubstr("  - reach api -> db\n"));
  EXPECT_THAT(text, HasSubstr("  - secret api: db.password\n"));
  const auto& plan = doc.at("plan");
  EXPECT_EQ(plan.at("stores_removed").as_array().size(), 1u);
  EXPECT_EQ(plan.at("reach_lost"), strings({"api -> db"}));
  EXPECT_EQ(plan.at("secrets_removed"), strings({"api: db.password"}));
  // The database stays: its volume is not orphaned.
  EXPECT_TRUE(plan.at("volumes_orphaned").as_array().empty());
  const auto& personas = doc.at("personas").as_array();
  ASSERT_EQ(personas.size(), 1u);
  EXPECT_EQ(personas[0].at("id"), "shop.api");
  EXPECT_EQ(personas[0].at("secrets_removed"), strings({"db.password"}));
}

TEST(DiffTest, AStoreRenamedIsPairedAsAProbableRename) {
  const auto [text, doc] = diff_pair("base", "store-renamed");
  EXPECT_THAT(text, HasSubstr("  renamed? shop.orders -> shop.purchases\n"));
  const auto& renamed = doc.at("components").at("renamed").as_array();
  ASSERT_EQ(renamed.size(), 1u);
  EXPECT_EQ(renamed[0].at("from"), "shop.orders");
  EXPECT_EQ(renamed[0].at("to"), "shop.purchases");
  // A new table: the old one's rows are left behind.
  EXPECT_EQ(doc.at("plan").at("stores_removed").as_array().size(), 1u);
}

TEST(DiffTest, APortChangeShowsBeforeAndAfter) {
  const auto [text, doc] = diff_pair("base", "port");
  EXPECT_THAT(text, HasSubstr("  ~ shop.api.port\n      config.port: 20000 -> 20001\n"));
  bool found = false;
  for (const auto& c : doc.at("components").at("changed").as_array()) {
    if (c.at("id") != "shop.api.port") continue;
    found = true;
    EXPECT_EQ(c.at("before").at("config").at("port"), 20000);
    EXPECT_EQ(c.at("after").at("config").at("port"), 20001);
  }
  EXPECT_TRUE(found) << doc;
}

TEST(DiffTest, APersonasUsesChangeGainsReachAndSecrets) {
  const auto [text, doc] = diff_pair("base", "uses");
  EXPECT_THAT(text, HasSubstr("  ~ shop.report\n      uses:    shop.api -> shop.api, shop.orders\n"));
  EXPECT_THAT(text, HasSubstr("  shop.report: job\n    + secret db.password\n"));
  EXPECT_THAT(text, HasSubstr("  + reach report -> db\n"));
  const auto& changed = doc.at("components").at("changed").as_array();
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].at("before").at("uses"), strings({"shop.api"}));
  EXPECT_EQ(changed[0].at("after").at("uses"), strings({"shop.api", "shop.orders"}));
  const auto& personas = doc.at("personas").as_array();
  ASSERT_EQ(personas.size(), 1u);
  EXPECT_EQ(personas[0].at("kind_before"), "job");
  EXPECT_EQ(personas[0].at("secrets_added"), strings({"db.password"}));
  EXPECT_EQ(doc.at("plan").at("reach_gained"), strings({"report -> db"}));
  EXPECT_EQ(doc.at("plan").at("secrets_added"), strings({"report: db.password"}));
}

TEST(DiffTest, ARemovedDatabaseOrphansItsVolume) {
  const auto [text, doc] = diff_pair("base", "db-removed");
  EXPECT_THAT(text, HasSubstr("  - service db\n"));
  EXPECT_THAT(text, HasSubstr("  ! volume db-data (database shop.db) orphaned"));
  const auto& plan = doc.at("plan");
  EXPECT_EQ(plan.at("services_removed"), strings({"db"}));
  EXPECT_EQ(plan.at("volumes_orphaned"), strings({"db-data (database shop.db)"}));
}

TEST(DiffTest, AChangedStartupInputIsAlignedByKindAndKey) {
  const auto [text, doc] = diff_pair("base", "region");
  EXPECT_THAT(text, HasSubstr("startup inputs:\n  env \"DIFF_REGION\"\n    - #"));
  EXPECT_THAT(text, HasSubstr("-> \"eu-west\"\n"));
  EXPECT_THAT(text, HasSubstr("-> \"us-east\"\n"));
  const auto& inputs = doc.at("inputs").as_array();
  ASSERT_EQ(inputs.size(), 1u);
  EXPECT_EQ(inputs[0].at("kind"), "env");
  EXPECT_EQ(inputs[0].at("key"), "DIFF_REGION");
  EXPECT_EQ(inputs[0].at("before"), "-> \"eu-west\"");
  EXPECT_EQ(inputs[0].at("after"), "-> \"us-east\"");
  EXPECT_TRUE(doc.at("components").at("changed").as_array().empty());
}

TEST(DiffTest, AnUnusableLogIsExitTwoWithItsError) {
  const ProcessResult r = tool({"diff", "base", "no-such.snaplog"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("no-such.snaplog"));
  std::ofstream(Builds::root / "not-a-log") << "hello";
  const ProcessResult foreign = tool({"diff", "--json", "not-a-log", "base"});
  EXPECT_EQ(foreign.exit_code, 2);
  EXPECT_EQ(foreign.out, "");
  EXPECT_THAT(foreign.err, HasSubstr("not a snapshot log"));
}

TEST(DiffTest, UsageAndHelp) {
  EXPECT_EQ(tool({"diff", "base"}).exit_code, 64);
  const ProcessResult help = tool({"diff", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("Examples:"));
  EXPECT_THAT(help.out, HasSubstr("Exit status: 0 no differences; 1 the logs differ; 2 a log is unusable"));
}

// Output the tool could not write is an error, not a silent exit 0.
TEST(ToolTest, OutputLostToAFullDeviceIsAnError) {
  const std::string expected = "snapshot: cannot write standard output: No space left on device\n";
  const std::vector<std::vector<std::string>> commands = {
      {"inspect", "base/snapshot.snaplog"}, {"inspect", "--json", "base/snapshot.snaplog"}, {"diff", "base", "base-again"},
      {"graph", "base"},    {"--help"},                                     {"inspect", "--help"}};
  for (std::vector<std::string> args : commands) {
    args.insert(args.begin(), {"/bin/sh", "-c", "exec \"$0\" \"$@\" >/dev/full", kSnapshot});
    for (std::size_t i = 4; i < args.size(); ++i) Builds::ensure(args[i].substr(0, args[i].find('/')));
    ProcessOptions options;
    options.working_directory = Builds::root;
    options.environment = base_env();
    const ProcessResult r = run_process(args, options);
    EXPECT_EQ(r.exit_code, 1) << args[4];
    EXPECT_EQ(r.err, expected) << args[4];
  }
}

// A file name is the user's, and may hold terminal escapes: errors show it escaped.
TEST(ToolTest, ArgumentsEchoedInErrorsAreEscaped) {
  const std::string hostile = "\x1b[31mno-such\x1b]0;owned\a";
  const std::string shown = "\\x1b[31mno-such\\x1b]0;owned\\x07";
  const ProcessResult missing = tool({"inspect", hostile});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr(shown + ": not found"));
  EXPECT_THAT(missing.err, Not(HasSubstr("\x1b")));
  const ProcessResult extra = tool({"diff", "base", "base-again", hostile});
  EXPECT_EQ(extra.exit_code, 64);
  EXPECT_THAT(extra.err, HasSubstr(shown));
  EXPECT_THAT(extra.err, Not(HasSubstr("\x1b")));
}

TEST(GraphTest, DotForTheShopIsGolden) {
  const ProcessResult r = tool({"graph", "base"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_golden("shop.graph.dot", r.out);
  EXPECT_THAT(r.out, HasSubstr("subgraph \"cluster_shop.api\""));
  EXPECT_THAT(r.out, HasSubstr("\"shop.report\" -> \"shop.api\" [label=\"uses\"];"));
  EXPECT_THAT(r.out, HasSubstr("GET /status"));
}

#ifdef SNAP_CUSTOMER_APP
TEST(GraphTest, DotForTheCustomerExampleIsGolden) {
  const ProcessResult r = tool({"graph", "customer/snapshot.snaplog"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_golden("customer.graph.dot", r.out);
  EXPECT_THAT(r.out, HasSubstr("POST /api/customer"));
  EXPECT_THAT(r.out, HasSubstr("subgraph \"cluster_customer.customer-server\""));
}

TEST(InspectTest, ManifestAndPersonasForTheCustomerExampleAreGolden) {
  const ProcessResult tree = tool({"inspect", "--manifest", "customer/snapshot.snaplog"});
  ASSERT_EQ(tree.exit_code, 0) << tree.err;
  expect_golden("customer.inspect-manifest.txt", tree.out);
  EXPECT_THAT(tree.out, Not(HasSubstr("events")));
  const ProcessResult json = tool({"inspect", "--manifest", "--json", "customer/snapshot.snaplog"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  expect_golden("customer.inspect-manifest.json", json.out);
  EXPECT_TRUE(boost::json::parse(json.out).is_array());

  const ProcessResult summary = tool({"inspect", "--summary", "--json", "customer/snapshot.snaplog"});
  ASSERT_EQ(summary.exit_code, 0) << summary.err;
  const auto doc = boost::json::parse(summary.out);
  std::map<std::string, boost::json::object> personas;
  for (const auto& p : doc.at("personas").as_array()) personas[std::string(p.at("id").as_string())] = p.as_object();
  ASSERT_TRUE(personas.count("customer.customer-server.api")) << summary.out;
  EXPECT_EQ(personas["customer.customer-server.api"].at("secrets"), strings({"customer-server.db.password"}));
  // The client reaches the server, not through it: no database password.
  ASSERT_TRUE(personas.count("customer.example-client")) << summary.out;
  EXPECT_TRUE(personas["customer.example-client"].at("secrets").as_array().empty());
  EXPECT_EQ(personas["customer.example-client"].at("reachable"), strings({"customer.customer-server.api"}));
}
#endif

TEST(GraphTest, RendersSvgWhenGraphvizIsInstalled) {
  if (std::system("command -v dot >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "Graphviz's `dot` is not installed (apt-get install graphviz): SVG rendering not tested";
  }
  const ProcessResult r = tool({"graph", "--format", "svg", "-o", "shop.svg", "base"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(read(Builds::root / "shop.svg"), HasSubstr("<svg"));
}

TEST(GraphTest, HelpAndErrors) {
  const ProcessResult help = tool({"graph", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("snapshot graph --format svg -o app.svg build/app"));
  EXPECT_THAT(tool({"inspect", "--help"}).out, HasSubstr("snapshot inspect --manifest LOG"));
  const ProcessResult unwritable = tool({"graph", "-o", "no-such-dir/app.dot", "base"});
  EXPECT_EQ(unwritable.exit_code, 1);
  EXPECT_EQ(unwritable.err, "snapshot graph: cannot write no-such-dir/app.dot: No such file or directory\n");
  const ProcessResult unusable = tool({"graph", "no-such.snaplog"});
  EXPECT_EQ(unusable.exit_code, 2);
  EXPECT_THAT(unusable.err, HasSubstr("no-such.snaplog"));
  EXPECT_EQ(tool({"graph", "--format", "gif", "base"}).exit_code, 64);
}

// A log from before the manifest recorded secret names: the tools name them by the rule
// the components use, so its personas still show the secrets they receive.
TEST(SystemViewTest, ALogFromBeforeSecretNamesWereRecordedStillShowsThem) {
  const Manifest old = LogReader::open(kGoldenDir / "customer-v1.snaplog")->manifest();
  EXPECT_FALSE(old.secret_names_recorded);
  const SystemView view = system_view(old);
  EXPECT_EQ(view.secrets.at("customer.customer-server.db.password"),
            std::vector<std::string>{"customer-server.db.password"});
  bool api_seen = false;
  for (const PersonaView& p : view.personas) {
    if (p.id != "customer.customer-server.api") continue;
    api_seen = true;
    EXPECT_EQ(p.secrets, std::vector<std::string>{"customer-server.db.password"});
  }
  EXPECT_TRUE(api_seen);
  const Manifest filled = with_secret_names(old);
  EXPECT_TRUE(filled.secret_names_recorded);
  EXPECT_EQ(deploy_input_from(old).components, filled.components);
}

// Every tool takes a build directory where it takes a log (docs/tools.md).
TEST(InspectTest, ABuildDirectoryNamesItsLog) {
  const ProcessResult by_dir = tool({"inspect", "--summary", "base"});
  ASSERT_EQ(by_dir.exit_code, 0) << by_dir.err;
  const ProcessResult by_file = tool({"inspect", "--summary", "base/snapshot.snaplog"});
  ASSERT_EQ(by_file.exit_code, 0) << by_file.err;
  EXPECT_EQ(by_dir.out, by_file.out);
  const ProcessResult empty_dir = tool({"inspect", "--summary", "."});
  EXPECT_EQ(empty_dir.exit_code, 2);
  EXPECT_THAT(empty_dir.err, HasSubstr("snapshot.snaplog"));
}

TEST(GraphTest, SvgWithoutAnOutputFileIsAUsageError) {
  const ProcessResult r = tool({"graph", "--format", "svg", "base"});
  EXPECT_EQ(r.exit_code, 64);
  EXPECT_THAT(r.err, HasSubstr("needs -o FILE"));
}

}  // namespace
}  // namespace snap
