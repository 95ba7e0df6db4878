// The program the ApiServer tests run: two servers ("api" with default limits, "tight"
// with small ones), a client persona that uses both and a stranger that uses neither;
// and a Deployment that runs it in one process over one transport: dev (direct calls)
// or HTTP (built with Placement::kLocal, then replayed twice: one app serves, the other
// calls, over loopback).
#pragma once

#include <sys/resource.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../format/log_test_util.h"
#include "snap/api_server.h"
#include "snap/app.h"
#include "snap/lifecycle.h"
#include "snap/env.h"
#include "snap/store.h"

namespace snap::apitest {

struct Address {
  std::string city;
  std::optional<std::string> zip;
};
BOOST_DESCRIBE_STRUCT(Address, (), (city, zip))

struct Person {
  std::string name;
  int age = 0;
  bool admin = false;
  double score = 0;
  std::vector<std::string> tags;
  Address address;
  std::vector<Address> past;
  std::optional<int> rank;
};
BOOST_DESCRIBE_STRUCT(Person, (), (name, age, admin, score, tags, address, past, rank))
bool operator==(const Address& a, const Address& b);
bool operator==(const Person& a, const Person& b);

struct Note {
  std::string text;
};
BOOST_DESCRIBE_STRUCT(Note, (), (text))

struct Failure {
  std::string code;  // an ErrorCode's wire name
  std::string message;
};
BOOST_DESCRIBE_STRUCT(Failure, (), (code, message))

struct Strict {
  int count = 0;
  std::string name;
};
BOOST_DESCRIBE_STRUCT(Strict, (), (count, name))

// Routes with path and query parameters (routes_test.cc).
struct Item {
  std::string id;
  std::optional<int> limit;
  bool verbose = false;
  double ratio = 0;
  friend bool operator==(const Item&, const Item&) = default;
};
BOOST_DESCRIBE_STRUCT(Item, (), (id, limit, verbose, ratio))

struct ItemTags {
  std::string id;
  std::vector<std::string> tags;
  friend bool operator==(const ItemTags&, const ItemTags&) = default;
};
BOOST_DESCRIBE_STRUCT(ItemTags, (), (id, tags))

struct Count {
  std::int64_t n = 0;
};
BOOST_DESCRIBE_STRUCT(Count, (), (n))

// State the handlers share with the test (owned by the Deployment, outlives its apps).
struct Shared {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> notes;
  bool slow_entered = false;   // the slow handler is running
  bool slow_released = false;  // the test lets it return
  // A real store (in memory) for the handlers that pass the caller's key to it.
  std::unique_ptr<JsonStore> store = open_memory_store(StoreOptions{"apitest-store", {}});
};

struct Endpoints {
  ApiServer* api = nullptr;
  ApiServer* tight = nullptr;
  Endpoint<Person, Person> echo;
  Endpoint<void, Person> zeros;
  Endpoint<std::string, std::string> text;
  Endpoint<Note, void> record;
  Endpoint<void, std::vector<std::string>> recorded;
  Endpoint<Failure, void> fail;
  Endpoint<void, void> crash;
  Endpoint<Failure, void> store_fail;       // throws StoreError: code "unavailable", "conflict"...
  Endpoint<std::string, bool> store_has;    // Shared::store.has(key)
  Endpoint<Strict, int> strict;
  Endpoint<void, std::string> whoami;
  Endpoint<void, std::string> slow;
  Endpoint<void, Person> infinite;  // a score of +infinity, which JSON cannot hold
  Endpoint<Item, Item> get_item;             // GET /items/{id}, the rest from the query
  Endpoint<void, std::string> get_item_me;    // GET /items/me, a literal beside the template
  Endpoint<ItemTags, ItemTags> put_item;      // PUT /items/{id}, the rest from the body
  Endpoint<Count, std::int64_t> delete_count; // DELETE /counts/{n}
  Endpoint<Person, Person> tight_echo;
  Endpoint<void, std::string> tight_ping;  // idempotent
};

inline constexpr const char* kAppName = "apitest";
// tight's limits, small enough for abuse tests to reach quickly.
inline constexpr std::size_t kTightBodyLimit = 1024;
inline constexpr std::size_t kTightHeaderLimit = 2048;
// Room for the body-budget test's two connections while the previous test's last ones
// are still being closed.
inline constexpr std::size_t kTightMaxConnections = 8;
// One body at the limit fits; a second one at once does not.
inline constexpr std::size_t kTightBodyBudget = kTightBodyLimit * 3 / 2;

void define_test_app(App& app, Endpoints& out, Shared& shared);

enum class Transport { kDev, kHttp };
std::string to_string(Transport t);

// A free TCP port on 127.0.0.1, chosen by the kernel.
unsigned short free_port();

class Deployment {
 public:
  // run_servers=false: the test runs the server personas itself (run_personas).
  Deployment(Transport transport, bool run_servers = true);
  ~Deployment();

  Transport transport() const { return transport_; }
  // The endpoints as the calling app sees them.
  Endpoints& endpoints() { return *endpoints_.at(client_app_); }
  PersonaContext& client() { return *client_ctx_; }
  PersonaContext& stranger() { return *stranger_ctx_; }
  App& server_app() { return *server_app_; }
  Shared& shared() { return shared_; }
  unsigned short api_port() const;
  unsigned short tight_port() const;
  // Stops the servers this deployment runs (request_stop + on_stop, as the lifecycle does).
  void stop_servers();

 private:
  struct Running {
    const Persona* persona;
    std::unique_ptr<PersonaContext> ctx;
    std::thread thread;
  };
  Transport transport_;
  Shared shared_;
  testing::TempDir dir_;
  Env* system_ = &real_env();
  std::map<const App*, std::unique_ptr<Endpoints>> endpoints_;
  std::unique_ptr<App> owned_server_app_, owned_client_app_;
  App* server_app_ = nullptr;
  App* client_app_ = nullptr;
  std::unique_ptr<PersonaContext> client_ctx_, stranger_ctx_;
  std::vector<Running> running_;
};

// One deployment per transport for the whole test binary: building and starting is the
// slow part. Made on the test's main thread (not thread-safe).
Deployment& shared_deployment(Transport transport);

// Raises the soft descriptor limit to at least `wanted` (up to the hard limit).
void raise_fd_limit(rlim_t wanted);

}  // namespace snap::apitest
