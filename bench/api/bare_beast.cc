#include "bare_beast.h"

#include <thread>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

namespace bench {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

std::string bare_encode(const Echo& e) {
  boost::json::array tags;
  for (const auto& t : e.tags) tags.emplace_back(t);
  return boost::json::serialize(boost::json::object{{"name", e.name}, {"count", e.count}, {"tags", std::move(tags)}});
}

Echo bare_decode(const std::string& text) {
  const auto v = boost::json::parse(text);
  const auto& o = v.as_object();
  Echo e;
  e.name = std::string(o.at("name").as_string());
  e.count = static_cast<int>(o.at("count").as_int64());
  for (const auto& t : o.at("tags").as_array()) e.tags.emplace_back(t.as_string());
  return e;
}

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket s) : stream_(std::move(s)) {}
  void read() {
    request_ = {};
    http::async_read(stream_, buffer_, request_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return;
      self->respond();
    });
  }

 private:
  void respond() {
    response_ = {};
    response_.version(11);
    try {
      response_.body() = bare_encode(bare_decode(request_.body()));
      response_.result(http::status::ok);
    } catch (const std::exception&) {
      response_.result(http::status::bad_request);
    }
    response_.set(http::field::content_type, "application/json");
    response_.keep_alive(request_.keep_alive());
    response_.prepare_payload();
    http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec || !self->response_.keep_alive()) return;
      self->read();
    });
  }
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
};

void accept(tcp::acceptor& acceptor, net::io_context& ioc) {
  acceptor.async_accept(net::make_strand(ioc), [&](beast::error_code ec, tcp::socket s) {
    if (!ec) {
      s.set_option(tcp::no_delay(true));
      std::make_shared<Session>(std::move(s))->read();
    }
    accept(acceptor, ioc);
  });
}

}  // namespace

void run_bare_server(unsigned short port, unsigned threads) {
  net::io_context ioc(static_cast<int>(threads));
  tcp::acceptor acceptor(net::make_strand(ioc), tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  accept(acceptor, ioc);
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
}

struct BareClient::Impl {
  net::io_context ioc;
  tcp::socket socket{ioc};
  beast::flat_buffer buffer;
  std::string build;
};

BareClient::BareClient(unsigned short port, std::string build) : impl_(std::make_unique<Impl>()) {
  impl_->build = std::move(build);
  impl_->socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  impl_->socket.set_option(tcp::no_delay(true));
}

BareClient::~BareClient() = default;

Echo BareClient::echo(const Echo& e) {
  http::request<http::string_body> request{http::verb::post, "/echo", 11};
  request.set(http::field::host, "127.0.0.1");
  request.set(http::field::content_type, "application/json");
  if (!impl_->build.empty()) request.set("Snap-Build", impl_->build);
  request.body() = bare_encode(e);
  request.prepare_payload();
  http::write(impl_->socket, request);
  http::response<http::string_body> response;
  http::read(impl_->socket, impl_->buffer, response);
  return bare_decode(response.body());
}

}  // namespace bench
