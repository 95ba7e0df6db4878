// Where a server listens in a container. Private to snap_api.
//
// Deployment gives a server's address on its own network (the one only its clients
// share) the name `listen.<service>` (Id::listen_name()), and clients dial that name. The
// server listens there and on loopback (its healthcheck), never on 0.0.0.0: a server
// that is itself a client (of a database) shares that database's network, and the
// database must not connect back. A server that no persona uses listens on loopback only.
//
// When the name answers differs: compose registers it before the container starts;
// swarm only once the task's healthcheck has passed (a task joins service discovery when
// healthy), which needs the server already listening on loopback. So the server starts
// on loopback and adds its own address as soon as the name gives it. It never falls back
// to listening more widely: a deployment that does not give the name is told so in the
// log, and the server stays unreachable from other containers until it does.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/logger.h>

#include "http_client.h"
#include "http_server.h"

namespace snap::api_detail {

// This host's addresses among those `host_name` resolves to, by `resolver` (each lookup
// bounded: bounded_resolver). For a swarm service in virtual-IP mode the name is the
// service's VIP; then `tasks.NAME`, the tasks' own addresses, is looked at too.
std::vector<std::string> own_addresses(const std::string& host_name, const Resolver& resolver);

class OwnNetworkListening {
 public:
  struct Timing {
    std::chrono::milliseconds first_look{1'000};      // on the caller's thread, in start()
    std::chrono::milliseconds lookup_timeout{1'000};  // one DNS lookup
    std::chrono::milliseconds first_poll{100};        // between looks, doubling to max_poll
    std::chrono::milliseconds max_poll{2'000};
    std::chrono::milliseconds warn_every{30'000};     // while the name gives nothing
  };

  // Listens at what `name` resolves to, for `audience`: the server's callers at
  // listen.NAME, Prometheus at metrics.NAME.
  OwnNetworkListening(std::string name, Audience audience, spdlog::logger& logger, Timing timing);
  ~OwnNetworkListening();  // stop()

  // `http` already listens on 127.0.0.1. Looks for up to timing.first_look on this
  // thread, listening on each own address found (HttpServer::listen_also); until one is
  // listened on, goes on looking on a thread of its own. A bind that fails is retried.
  void start(HttpServer& http);
  // Stops looking; returns once the thread has ended (a lookup in progress is not waited
  // for beyond timing.lookup_timeout). Idempotent.
  void stop();
  // An own address is listened on (or looking was stopped).
  bool done() const { return done_; }
  // The own addresses listened on so far.
  std::vector<std::string> listening() const;

 private:
  bool look_and_listen(HttpServer& http);  // true once done
  bool wait(std::chrono::milliseconds how_long);  // false when stopped
  void keep_looking(HttpServer& http);

  std::string name_;
  Audience audience_;
  spdlog::logger& logger_;
  Timing timing_;
  Resolver resolver_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;           // guarded by mutex_
  std::set<std::string> bound_;     // guarded by mutex_
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace snap::api_detail
