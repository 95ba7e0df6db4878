// The customer example's Kubernetes manifests, from a real build, applied to a real
// kube-apiserver (scripts/build-kube-apiserver.sh) over a real etcd (Debian's etcd-server),
// both on loopback in a temporary directory: every object is accepted by server-side dry
// run and then created, without a warning, and reads back as written; the Secrets that
// bin/kube/apply makes and the Job that bin/kube/get-customer creates are accepted too; a
// broken manifest is refused; and no secret value is in a generated file or in any object
// but the Secrets. No kubelet runs: the objects are validated and stored by the API
// machinery, no pod starts.
//
// SNAP_KUBE_APISERVER names the binary; empty (a build without the tool), the tests skip
// and say so. scripts/test.sh always provides it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "kubernetes_support.h"
#include "subprocess.h"

namespace snap {
namespace {

namespace fs = std::filesystem;
namespace http = boost::beast::http;
namespace json = boost::json;
namespace ssl = boost::asio::ssl;
using testing::ChildProcess;
using testing::ProcessResult;

constexpr std::string_view kNamespace = "customer";
constexpr std::string_view kToken = "snap-test-token";

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A free loopback port: the kernel's choice for a socket bound to port 0.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    throw std::runtime_error("no free port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

void must(const ProcessResult& r, const std::string& what) {
  if (r.exit_code != 0) throw std::runtime_error(what + " failed (" + std::to_string(r.exit_code) + "): " + r.err + r.out);
}

struct Reply {
  int status = 0;
  std::string body;
  std::vector<std::string> warnings;  // every Warning header
};

// HTTPS to the API server as the test's admin (a token of system:masters), checking its
// certificate against the one the test made.
class KubeClient {
 public:
  KubeClient(int port, fs::path ca) : port_(port), ca_(std::move(ca)) {}

  Reply call(http::verb method, const std::string& target, const std::string& body = "",
             const std::string& type = "application/json") const {
    boost::asio::io_context io;
    ssl::context context(ssl::context::tls_client);
    context.load_verify_file(ca_.string());
    context.set_verify_mode(ssl::verify_peer);
    boost::beast::ssl_stream<boost::beast::tcp_stream> stream(io, context);
    boost::beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
    boost::beast::get_lowest_layer(stream).connect(
        boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)));
    stream.handshake(ssl::stream_base::client);
    http::request<http::string_body> request{method, target, 11};
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::authorization, "Bearer " + std::string(kToken));
    request.set(http::field::accept, "application/json");
    if (!body.empty()) request.set(http::field::content_type, type);
    request.body() = body;
    request.prepare_payload();
    http::write(stream, request);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    Reply reply{static_cast<int>(response.result_int()), response.body(), {}};
    for (const auto& field : response) {
      if (boost::beast::iequals(field.name_string(), "Warning")) reply.warnings.emplace_back(field.value());
    }
    boost::system::error_code ignored;
    stream.shutdown(ignored);
    return reply;
  }

 private:
  int port_;
  fs::path ca_;
};

// etcd and kube-apiserver on loopback, in a temporary directory that goes with them.
struct ApiServer {
  fs::path dir;
  std::unique_ptr<ChildProcess> etcd, server;
  std::unique_ptr<KubeClient> client;

  ~ApiServer() {
    server.reset();  // killed and reaped before the directory goes
    etcd.reset();
    std::error_code ignored;
    if (!dir.empty()) fs::remove_all(dir, ignored);
  }

  void start(const std::string& binary) {
    char name[] = "/tmp/snap-kube-XXXXXX";
    if (::mkdtemp(name) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir = name;
    make_keys();
    std::ofstream(dir / "tokens.csv") << kToken << ",snap-admin,snap-admin-uid,\"system:masters\"\n";
    const int etcd_port = free_port(), peer_port = free_port(), port = free_port();
    const std::string etcd_url = "http://127.0.0.1:" + std::to_string(etcd_port);
    const std::string peer_url = "http://127.0.0.1:" + std::to_string(peer_port);
    // Output to files: a pipe nobody reads would stop a chatty server.
    etcd = std::make_unique<ChildProcess>(std::vector<std::string>{
        "/bin/sh", "-c", "exec \"$0\" \"$@\" >etcd.log 2>&1", "/usr/bin/etcd", "--name", "snap-test", "--data-dir",
        (dir / "etcd").string(), "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
        "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url, "--initial-cluster",
        "snap-test=" + peer_url},
        working_here());
    server = std::make_unique<ChildProcess>(std::vector<std::string>{
        "/bin/sh", "-c", "echo $$ >kube-apiserver.pid; exec \"$0\" \"$@\" >kube-apiserver.log 2>&1", binary,
        "--etcd-servers=" + etcd_url, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
        // No `kubernetes` Service endpoints to keep: they may not be a loopback address.
        "--endpoint-reconciler-type=none", "--secure-port=" + std::to_string(port),
        "--tls-cert-file=" + (dir / "serving.crt").string(), "--tls-private-key-file=" + (dir / "serving.key").string(),
        "--token-auth-file=" + (dir / "tokens.csv").string(), "--authorization-mode=RBAC",
        "--service-account-issuer=https://kubernetes.default.svc",
        "--service-account-key-file=" + (dir / "sa.pub").string(),
        "--service-account-signing-key-file=" + (dir / "sa.key").string(),
        "--service-cluster-ip-range=10.96.0.0/16", "--cert-dir=" + (dir / "certs").string(), "--profiling=false"},
        working_here());
    client = std::make_unique<KubeClient>(port, dir / "serving.crt");
    wait_ready();
  }

  std::string log() const { return read_file(dir / "kube-apiserver.log"); }

 private:
  testing::ProcessOptions working_here() const {
    testing::ProcessOptions options;
    options.working_directory = dir;
    return options;
  }

  // The serving certificate (self-signed, for 127.0.0.1) and the service-account key pair.
  void make_keys() const {
    must(testing::run_process({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                               "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout",
                               (dir / "serving.key").string(), "-out", (dir / "serving.crt").string()}),
         "openssl req");
    must(testing::run_process({"/usr/bin/openssl", "genrsa", "-out", (dir / "sa.key").string(), "2048"}), "openssl genrsa");
    must(testing::run_process(
             {"/usr/bin/openssl", "rsa", "-in", (dir / "sa.key").string(), "-pubout", "-out", (dir / "sa.pub").string()}),
         "openssl rsa");
  }

  // Whether the server process still runs (its wrapper wrote its pid, then became it).
  bool server_running() const {
    std::string pid = read_file(dir / "kube-apiserver.pid");
    while (!pid.empty() && pid.back() == '\n') pid.pop_back();
    if (pid.empty()) return true;  // not started yet
    const std::string stat = read_file("/proc/" + pid + "/stat");
    const std::size_t state = stat.rfind(')');
    return state != std::string::npos && state + 2 < stat.size() && stat[state + 2] != 'Z';
  }

  // /readyz polled until it answers ok; the deadline bounds a server that never comes up.
  void wait_ready() const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
    std::string last;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!server_running()) throw std::runtime_error("kube-apiserver exited; its log:\n" + log());
      try {
        const Reply reply = client->call(http::verb::get, "/readyz");
        if (reply.status == 200 && reply.body == "ok") return;
        last = std::to_string(reply.status) + " " + reply.body;
      } catch (const std::exception& e) {
        last = e.what();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    throw std::runtime_error("kube-apiserver not ready within 180 s (last: " + last + "); its log:\n" + log());
  }
};

// Where objects of a kind live, in the test's namespace.
std::string collection(const json::object& o) {
  static const std::map<std::string, std::string> plural{
      {"Deployment", "deployments"}, {"StatefulSet", "statefulsets"}, {"Job", "jobs"},
      {"Service", "services"},       {"NetworkPolicy", "networkpolicies"}, {"Secret", "secrets"},
      {"ServiceAccount", "serviceaccounts"}};
  const std::string api_version(o.at("apiVersion").as_string());
  const std::string prefix = api_version == "v1" ? "/api/v1" : "/apis/" + api_version;
  return prefix + "/namespaces/" + std::string(kNamespace) + "/" + plural.at(std::string(o.at("kind").as_string()));
}

// The YAML documents of a file, each as its text (as sent) and as the test reads it.
std::vector<std::pair<std::string, json::object>> documents(const std::string& text) {
  std::vector<std::pair<std::string, json::object>> out;
  std::vector<json::value> objects = kube_test::read_yaml(text);
  std::size_t start = 0, index = 0;
  for (;;) {
    const std::size_t end = text.find("\n---\n", start);
    const std::string doc = text.substr(start, end == std::string::npos ? std::string::npos : end + 1 - start);
    out.emplace_back(doc, objects.at(index++).as_object());
    if (end == std::string::npos) break;
    start = end + 5;
  }
  EXPECT_EQ(index, objects.size());
  return out;
}

// Whether everything in `sent` is in `stored` with the same value (the server adds
// defaults and status, and must change nothing it was given).
bool contains(const json::value& stored, const json::value& sent, std::string& where) {
  if (sent.is_object()) {
    if (!stored.is_object()) return false;
    for (const auto& [key, value] : sent.as_object()) {
      const json::value* have = stored.as_object().if_contains(key);
      if (have == nullptr || !contains(*have, value, where)) {
        where = std::string(key) + (where.empty() ? "" : "." + where);
        return false;
      }
    }
    return true;
  }
  if (sent.is_array()) {
    if (!stored.is_array() || stored.as_array().size() != sent.as_array().size()) return false;
    for (std::size_t i = 0; i < sent.as_array().size(); ++i) {
      if (!contains(stored.as_array()[i], sent.as_array()[i], where)) {
        where = "[" + std::to_string(i) + "]" + (where.empty() ? "" : "." + where);
        return false;
      }
    }
    return true;
  }
  return stored == sent;
}

class KubeApiServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::string(SNAP_KUBE_APISERVER).empty()) return;
    try {
      cluster_ = std::make_unique<ApiServer>();
      cluster_->start(SNAP_KUBE_APISERVER);
      out_ = cluster_->dir / "out";
      must(testing::run_process({SNAP_CUSTOMER_APP, "build", "--out", out_.string()}), "customer build");
      const Reply created = cluster_->client->call(
          http::verb::post, "/api/v1/namespaces",
          json::serialize(json::object{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", kNamespace}}}}));
      if (created.status != 201) throw std::runtime_error("creating the namespace: " + created.body);
    } catch (const std::exception& e) {
      setup_error_ = e.what();
    }
  }
  static void TearDownTestSuite() { cluster_.reset(); }

  void SetUp() override {
    if (std::string(SNAP_KUBE_APISERVER).empty()) {
      GTEST_SKIP() << "SNAP_KUBE_APISERVER is empty: no kube-apiserver to apply the manifests to "
                      "(scripts/build-kube-apiserver.sh builds one; scripts/test.sh passes it to CMake)";
    }
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  }

  const KubeClient& kube() const { return *cluster_->client; }

  // Dry run, then for real, then read back: accepted each time without a warning, and
  // stored as sent. Returns the stored object.
  json::object apply(const std::string& text, const json::object& sent, const std::string& what) {
    SCOPED_TRACE(what);
    const Reply dry = kube().call(http::verb::post, collection(sent) + "?dryRun=All", text, "application/yaml");
    EXPECT_EQ(dry.status, 201) << dry.body;
    EXPECT_THAT(dry.warnings, ::testing::IsEmpty());
    const Reply created = kube().call(http::verb::post, collection(sent), text, "application/yaml");
    EXPECT_EQ(created.status, 201) << created.body;
    EXPECT_THAT(created.warnings, ::testing::IsEmpty());
    if (created.status != 201) return {};
    const std::string name(json::parse(created.body).at("metadata").at("name").as_string());
    const Reply read = kube().call(http::verb::get, collection(sent) + "/" + name);
    EXPECT_EQ(read.status, 200) << read.body;
    const json::value stored = json::parse(read.body);
    std::string where;
    json::object expected = sent;
    if (expected.at("metadata").as_object().erase("generateName") == 1) expected.at("metadata").as_object()["name"] = name;
    EXPECT_TRUE(contains(stored, expected, where)) << "differs at " << where << ": " << read.body;
    ++applied_;
    return stored.as_object();
  }

  // Runs a bin/kube script with a stand-in kubectl that records each call in `calls` and
  // keeps what it is given on stdin (the manifests the script makes), answering as a
  // cluster where a Job has just succeeded.
  ProcessResult run_script(const std::string& script, const std::vector<std::string>& args, const fs::path& calls) {
    fs::create_directories(calls);
    const fs::path fake = calls / "kubectl";
    std::ofstream(fake) << "#!/bin/sh\n"
                           "n=$(ls \"$(dirname \"$0\")\" | grep -c '^call-')\n"
                           "printf '%s\\n' \"$*\" >\"$(dirname \"$0\")/call-$n\"\n"
                           "case \"$1 $2 $3\" in 'apply -f -'|'create -f -') cat >\"$(dirname \"$0\")/stdin-$n\" ;; esac\n"
                           "case \"$1\" in\n"
                           "  create) echo job.batch/get-customer-run-test ;;\n"
                           "  get) case \"$*\" in *succeeded*) echo 1/ ;; *) echo 0 ;; esac ;;\n"
                           "  logs) echo 'the command ran' ;;\n"
                           "esac\n";
    fs::permissions(fake, fs::perms::owner_all);
    testing::ProcessOptions options;
    std::map<std::string, std::string> env{{"PATH", "/usr/bin:/bin"}, {"KUBECTL", fake.string()}};
    options.environment = env;
    std::vector<std::string> argv{(out_ / script).string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run_process(argv, options);
  }

  static std::unique_ptr<ApiServer> cluster_;
  static std::string setup_error_;
  static fs::path out_;
  std::size_t applied_ = 0;
};

std::unique_ptr<ApiServer> KubeApiServerTest::cluster_;
std::string KubeApiServerTest::setup_error_;
fs::path KubeApiServerTest::out_;

// Every file kubernetes/ holds (commands' Job templates too): the objects they define.
std::vector<fs::path> manifest_files(const fs::path& out) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(out / "kubernetes")) {
    if (entry.is_regular_file() && entry.path().filename() != "kustomization.yaml") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST_F(KubeApiServerTest, EveryGeneratedManifestIsAcceptedWithoutAWarning) {
  // The Secrets first, as bin/kube/apply makes them from runtime-secrets/.
  const ProcessResult applied = run_script("bin/kube/apply", {}, cluster_->dir / "apply");
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  EXPECT_EQ(read_file(cluster_->dir / "apply" / "call-1"), "apply -k " + (out_ / "kubernetes").string() + "\n");
  const std::string secrets = read_file(cluster_->dir / "apply" / "stdin-0");
  const std::string password = read_file(out_ / "state" / "secrets" / "customer-server.db.password");
  std::set<std::string> secret_names;
  for (const auto& [text, sent] : documents(secrets)) {
    const json::object stored = apply(text, sent, "bin/kube/apply's Secret");
    secret_names.insert(std::string(sent.at("metadata").at("name").as_string()));
    // The value is the runtime secret's, base64 as Secret data takes it.
    EXPECT_EQ(stored.at("data").at("customer-server.db.password"), sent.at("data").at("customer-server.db.password"));
  }
  EXPECT_EQ(secret_names, (std::set<std::string>{"customer-server-api-secrets", "customer-server-db-secrets"}));

  std::size_t files = 0;
  for (const fs::path& file : manifest_files(out_)) {
    ++files;
    for (const auto& [text, sent] : documents(read_file(file))) apply(text, sent, file.string());
  }
  EXPECT_EQ(files, 6u);  // app, db, api, client, get-customer (its policy), commands/get-customer
  EXPECT_EQ(applied_, 2u + 14u);

  // bin/kube/get-customer's Job, its arguments appended to the template's.
  const ProcessResult ran = run_script("bin/kube/get-customer", {"1", "it's \"quoted\""}, cluster_->dir / "command");
  ASSERT_EQ(ran.exit_code, 0) << ran.err;
  EXPECT_EQ(ran.out, "the command ran\n");
  const std::string job = read_file(cluster_->dir / "command" / "stdin-0");
  for (const auto& [text, sent] : documents(job)) {
    const json::object stored = apply(text, sent, "bin/kube/get-customer's Job");
    EXPECT_EQ(stored.at("spec").at("template").at("spec").at("containers").at(0).at("args"),
              (json::array{"customer.get-customer", "1", "it's \"quoted\""}));
  }
}

TEST_F(KubeApiServerTest, ABrokenManifestIsRefused) {
  // The test's own: a Deployment whose selector does not select its pods, with a
  // container name that is no DNS label.
  const std::string broken =
      R"(apiVersion: "apps/v1"
kind: "Deployment"
metadata:
  name: "broken"
spec:
  selector:
    matchLabels:
      app: "one"
  template:
    metadata:
      labels:
        app: "two"
    spec:
      containers:
        - name: "Not_A_Label"
          image: "snap-customer"
)";
  const json::object sent = kube_test::read_yaml(broken).at(0).as_object();
  const Reply dry = kube().call(http::verb::post, collection(sent) + "?dryRun=All", broken, "application/yaml");
  EXPECT_EQ(dry.status, 422) << dry.body;
  EXPECT_THAT(dry.body, ::testing::HasSubstr("selector` does not match template `labels`"));
  EXPECT_THAT(dry.body, ::testing::HasSubstr("Not_A_Label"));
  const Reply created = kube().call(http::verb::post, collection(sent), broken, "application/yaml");
  EXPECT_EQ(created.status, 422) << created.body;
  EXPECT_EQ(kube().call(http::verb::get, collection(sent) + "/broken").status, 404);
}

// No secret value in any file the build wrote for Kubernetes, nor (base64, as Secret data
// holds it) in any object the server stored but the Secrets that bin/kube/apply made.
TEST_F(KubeApiServerTest, NoSecretValueIsInAGeneratedFileOrAnotherObject) {
  const std::string password = read_file(out_ / "state" / "secrets" / "customer-server.db.password");
  ASSERT_EQ(password.size(), 48u);
  std::string encoded(boost::beast::detail::base64::encoded_size(password.size()), '\0');
  encoded.resize(boost::beast::detail::base64::encode(encoded.data(), password.data(), password.size()));
  std::size_t scanned = 0;
  for (const fs::path& dir : {out_ / "kubernetes", out_ / "bin" / "kube"}) {
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
      if (!entry.is_regular_file()) continue;
      const std::string content = read_file(entry.path());
      EXPECT_EQ(content.find(password), std::string::npos) << entry.path();
      EXPECT_EQ(content.find(encoded), std::string::npos) << entry.path();
      ++scanned;
    }
  }
  EXPECT_EQ(scanned, 9u);  // seven under kubernetes/, bin/kube/apply and bin/kube/get-customer
  for (const char* kind : {"/apis/apps/v1/namespaces/customer/deployments", "/apis/apps/v1/namespaces/customer/statefulsets",
                           "/apis/batch/v1/namespaces/customer/jobs", "/api/v1/namespaces/customer/services",
                           "/apis/networking.k8s.io/v1/namespaces/customer/networkpolicies",
                           "/api/v1/namespaces/customer/serviceaccounts"}) {
    const Reply listed = kube().call(http::verb::get, kind);
    EXPECT_EQ(listed.status, 200) << kind;
    EXPECT_EQ(listed.body.find(password), std::string::npos) << kind;
    EXPECT_EQ(listed.body.find(encoded), std::string::npos) << kind;
  }
}

}  // namespace
}  // namespace snap
