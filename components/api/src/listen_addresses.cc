#include "listen_addresses.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <iterator>
#include <set>
#include <utility>

namespace snap::api_detail {

namespace {

std::string text_of(const sockaddr* address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(address)->sin_addr, text, sizeof text);
  } else if (address->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr, text, sizeof text);
  }
  return text;
}

bool is_loopback_or_link_local(const sockaddr* address) {
  if (address->sa_family == AF_INET) {
    return (ntohl(reinterpret_cast<const sockaddr_in*>(address)->sin_addr.s_addr) >> 24) == 127;
  }
  const in6_addr& a6 = reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr;
  return IN6_IS_ADDR_LOOPBACK(&a6) || IN6_IS_ADDR_LINKLOCAL(&a6);
}

template <typename Keep>
std::set<std::string> interface_addresses(Keep keep) {
  std::set<std::string> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    const sockaddr* a = i->ifa_addr;
    if (a != nullptr && (a->sa_family == AF_INET || a->sa_family == AF_INET6) && keep(a)) out.insert(text_of(a));
  }
  freeifaddrs(list);
  return out;
}

std::set<std::string> resolve(const std::string& host_name) {
  std::set<std::string> out;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host_name.c_str(), nullptr, &hints, &found) != 0) return out;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) out.insert(text_of(a->ai_addr));
  freeaddrinfo(found);
  out.erase("");
  return out;
}

}  // namespace

OwnAddresses look_up_own_addresses(const std::string& host_name) {
  OwnAddresses out;
  const std::set<std::string> local = interface_addresses([](const sockaddr*) { return true; });
  std::set<std::string> named = resolve(host_name);
  out.name_resolves = !named.empty();
  std::set_intersection(named.begin(), named.end(), local.begin(), local.end(), std::back_inserter(out.local));
  if (out.local.empty() && out.name_resolves) {
    named = resolve("tasks." + host_name);
    std::set_intersection(named.begin(), named.end(), local.begin(), local.end(), std::back_inserter(out.local));
  }
  return out;
}

std::vector<std::string> non_loopback_addresses() {
  const std::set<std::string> found = interface_addresses([](const sockaddr* a) { return !is_loopback_or_link_local(a); });
  return {found.begin(), found.end()};
}

OwnNetworkListening::OwnNetworkListening(std::string name, spdlog::logger& logger, Timing timing)
    : name_(std::move(name)), logger_(logger), timing_(timing) {}

OwnNetworkListening::~OwnNetworkListening() { stop(); }

bool OwnNetworkListening::wait(std::chrono::milliseconds how_long) {
  std::unique_lock lock(mutex_);
  return !changed_.wait_for(lock, how_long, [&] { return stopping_; });
}

std::vector<std::string> OwnNetworkListening::initial_addresses() {
  std::vector<std::string> out{"127.0.0.1"};
  const auto deadline = std::chrono::steady_clock::now() + timing_.first_look;
  for (;;) {
    OwnAddresses own = look_up_own_addresses(name_);
    ever_resolved_ = ever_resolved_ || own.name_resolves;
    if (!own.local.empty()) {
      found_ = true;
      for (const std::string& a : own.local) {
        if (a != out.front()) out.push_back(a);  // a name for loopback itself: bound once
      }
      return out;
    }
    if (std::chrono::steady_clock::now() >= deadline || !wait(timing_.poll)) return out;
  }
}

void OwnNetworkListening::keep_looking(HttpServer& http) {
  if (found_ || thread_.joinable()) return;
  logger_.info("{} gives no address of this host yet: listening on 127.0.0.1 until it does", name_);
  thread_ = std::thread([this, &http] {
    look(http);
    done_ = true;
  });
}

void OwnNetworkListening::look(HttpServer& http) {
  while (wait(timing_.poll)) {
    const OwnAddresses own = look_up_own_addresses(name_);
    ever_resolved_ = ever_resolved_ || own.name_resolves;
    std::vector<std::string> addresses = own.local;
    if (addresses.empty()) {
      if (ever_resolved_ || std::chrono::steady_clock::now() - started_ < timing_.give_up) continue;
      logger_.warn("{} names no address after {} s: not a generated deployment; listening on every address", name_,
                   std::chrono::duration_cast<std::chrono::seconds>(timing_.give_up).count());
      addresses = non_loopback_addresses();
    }
    for (const std::string& address : addresses) {
      try {
        if (http.listen_also(address)) logger_.info("listening on {} too", address);
      } catch (const std::exception& e) {
        logger_.error("{}", e.what());
      }
    }
    return;
  }
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
