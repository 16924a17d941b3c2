#include "tickcast/http/server.h"

#include "tickcast/core/protocol.h"
#include "tickcast/http/internal/loop.h"

namespace tickcast::http {

// The body is the contract's error event, as ws and mqtt send it, so a client parses one
// error shape whatever the transport.
Response json_error(ErrorCode code, std::string_view message, std::string_view request_id) {
  Response response;
  response.status = http_status(code);
  response.body = encode_error(Error{code, std::string(message)}, request_id);
  return response;
}

Response json_error(const Error& error, std::string_view request_id) {
  Response response = json_error(error.code, error.message, request_id);
  if (error.http_status) response.status = error.http_status;
  if (response.status == 401) response.headers.emplace_back("www-authenticate", "Bearer");
  return response;
}

void Responder::respond(Response response) const {
  auto loop = loop_.lock();
  if (!loop) return;
  loop->post([weak = loop_, id = exchange_id_, response = std::move(response)]() mutable {
    if (auto loop = weak.lock()) loop->respond(id, std::move(response));
  });
}

Server::Server(ServerOptions options)
    : options_(options), loop_(std::make_shared<internal::Loop>(std::move(options))) {}

Server::~Server() { stop(); }

void Server::route(std::string method, std::string pattern, Handler handler) {
  loop_->route(std::move(method), std::move(pattern), std::move(handler));
}

void Server::start() { loop_->start(); }

void Server::stop() { loop_->stop(); }

int Server::port() const { return loop_->port(); }

std::string Server::reload_tls() { return loop_->reload_tls(); }

std::string Server::base_url() const {
  return (options_.tls() ? "https://" : "http://") + options_.host + ":" +
         std::to_string(loop_->port());
}

std::string Server::websocket_base_url() const {
  return (options_.tls() ? "wss://" : "ws://") + options_.host + ":" +
         std::to_string(loop_->port());
}

}  // namespace tickcast::http
