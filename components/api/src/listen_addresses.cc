#include "listen_addresses.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <iterator>
#include <utility>

namespace snap::api_detail {

namespace {

std::set<std::string> interface_addresses() {
  std::set<std::string> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    const sockaddr* a = i->ifa_addr;
    if (a == nullptr) continue;
    if (a->sa_family == AF_INET) out.insert(make_address(a, sizeof(sockaddr_in)).ip);
    if (a->sa_family == AF_INET6) out.insert(make_address(a, sizeof(sockaddr_in6)).ip);
  }
  freeifaddrs(list);
  return out;
}

std::set<std::string> resolve(const std::string& host_name, const Resolver& resolver) {
  boost::system::error_code ec;
  std::set<std::string> out;
  for (const Address& a : resolver(host_name, 0, ec)) out.insert(a.ip);
  return out;
}

}  // namespace

std::vector<std::string> own_addresses(const std::string& host_name, const Resolver& resolver) {
  const std::set<std::string> local = interface_addresses();
  std::vector<std::string> out;
  std::set<std::string> named = resolve(host_name, resolver);
  std::set_intersection(named.begin(), named.end(), local.begin(), local.end(), std::back_inserter(out));
  if (out.empty() && !named.empty()) {
    named = resolve("tasks." + host_name, resolver);
    std::set_intersection(named.begin(), named.end(), local.begin(), local.end(), std::back_inserter(out));
  }
  return out;
}

OwnNetworkListening::OwnNetworkListening(std::string name, Audience audience, spdlog::logger& logger, Timing timing)
    : name_(std::move(name)),
      audience_(audience),
      logger_(logger),
      timing_(timing),
      resolver_(bounded_resolver(resolve_all, timing.lookup_timeout)) {}

OwnNetworkListening::~OwnNetworkListening() { stop(); }

bool OwnNetworkListening::wait(std::chrono::milliseconds how_long) {
  std::unique_lock lock(mutex_);
  return !changed_.wait_for(lock, how_long, [&] { return stopping_; });
}

std::vector<std::string> OwnNetworkListening::listening() const {
  std::lock_guard lock(mutex_);
  return {bound_.begin(), bound_.end()};
}

bool OwnNetworkListening::look_and_listen(HttpServer& http) {
  bool failed = false;
  for (const std::string& address : own_addresses(name_, resolver_)) {
    {
      std::lock_guard lock(mutex_);
      if (bound_.count(address)) continue;
    }
    // 127.0.0.1 is listened on already (a name for loopback itself: tests).
    if (address != "127.0.0.1") {
      try {
        if (!http.listen_also(address, audience_)) return true;  // the server is stopping
      } catch (const std::exception& e) {
        // An address not ready for binding yet (an IPv6 address still tentative): next look.
        logger_.warn("{}", e.what());
        failed = true;
        continue;
      }
      logger_.info("listening on {} too ({})", address, name_);
    }
    std::lock_guard lock(mutex_);
    bound_.insert(address);
  }
  std::lock_guard lock(mutex_);
  return !bound_.empty() && !failed;
}

void OwnNetworkListening::start(HttpServer& http) {
  const auto deadline = std::chrono::steady_clock::now() + timing_.first_look;
  std::chrono::milliseconds poll = timing_.first_poll;
  for (;;) {
    if (look_and_listen(http)) {
      done_ = true;
      return;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    if (!wait(std::min(poll, timing_.first_look))) return;
    poll = std::min(poll * 2, timing_.max_poll);
  }
  logger_.info("{} gives no address of this host yet: listening on 127.0.0.1 until it does", name_);
  thread_ = std::thread([this, &http] { keep_looking(http); });
}

void OwnNetworkListening::keep_looking(HttpServer& http) {
  const auto started = std::chrono::steady_clock::now();
  auto next_warning = started + timing_.warn_every;
  std::chrono::milliseconds poll = timing_.first_poll;
  while (wait(poll)) {
    if (look_and_listen(http)) break;
    poll = std::min(poll * 2, timing_.max_poll);
    if (std::chrono::steady_clock::now() >= next_warning) {
      next_warning += timing_.warn_every;
      logger_.warn("{} still gives no address of this host after {} s: other containers cannot reach this server "
                   "until the deployment gives that network alias (docs/deploy.md)",
                   name_, std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started).count());
    }
  }
  done_ = true;
}

void OwnNetworkListening::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace snap::api_detail
