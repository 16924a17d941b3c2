// ws_client_test: WsClientPool against a tiny libwebsockets echo server run in-process,
// plus a raw TCP socket that refuses the upgrade with an HTTP status.
#include "tickcast/client/ws_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using tickcast::client::WsClientPool;
using tickcast::client::WsConnection;
using tickcast::client::WsConnectOptions;
using tickcast::client::WsState;

namespace {

// EchoServer echoes every message on one lws service thread. It greets each client with
// "hello origin=<Origin> x-test=<X-Test>". "close:CODE:REASON" makes it close with
// CODE; a message over 4096 bytes closes with 1009 (as tickcast-server does).
class EchoServer {
 public:
  EchoServer() {
    lws_context_creation_info info{};
    info.port = 0;  // kernel-chosen
    info.iface = "127.0.0.1";
    info.protocols = kProtocols;
    info.gid = -1;
    info.uid = -1;
    info.user = this;
    ctx_ = lws_create_context(&info);
    if (ctx_ == nullptr) throw std::runtime_error("echo server: lws_create_context failed");
    port_ = lws_get_vhost_listen_port(lws_get_vhost_by_name(ctx_, "default"));
    thread_ = std::thread([this] {
      while (!stop_.load()) lws_service(ctx_, 0);
    });
  }
  ~EchoServer() {
    stop_.store(true);
    lws_cancel_service(ctx_);
    thread_.join();
    lws_context_destroy(ctx_);
  }
  int port() const { return port_; }
  std::string url(const std::string& path = "/echo") const {
    return "ws://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  struct Session {
    std::string greeting;
    std::string rx;
    std::deque<std::string> out;
    int close_code = 0;
    std::string close_reason;
  };

  static int callback(lws* wsi, lws_callback_reasons reason, void*, void* in, std::size_t len) {
    auto* self = static_cast<EchoServer*>(lws_context_user(lws_get_context(wsi)));
    switch (reason) {
      case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        char origin[256] = {0};
        char custom[256] = {0};
        const int olen = lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN);
        const int clen = lws_hdr_custom_copy(wsi, custom, sizeof custom, "x-test:", 7);
        Session& s = self->sessions_[wsi];
        s.greeting = std::string("hello origin=") + (olen > 0 ? origin : "") +
                     " x-test=" + (clen > 0 ? custom : "");
        return 0;
      }
      case LWS_CALLBACK_ESTABLISHED: {
        Session& s = self->sessions_[wsi];
        s.out.push_back(s.greeting);
        lws_callback_on_writable(wsi);
        return 0;
      }
      case LWS_CALLBACK_RECEIVE: {
        Session& s = self->sessions_[wsi];
        s.rx.append(static_cast<const char*>(in), len);
        if (s.rx.size() > 4096 && s.rx.size() < 10000 && lws_is_final_fragment(wsi)) {
          s.close_code = 1009;
          s.close_reason = "too large";
        } else if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) != 0) {
          return 0;
        } else if (s.rx.rfind("close:", 0) == 0) {
          const auto colon = s.rx.find(':', 6);
          s.close_code = std::stoi(s.rx.substr(6, colon - 6));
          s.close_reason = s.rx.substr(colon + 1);
        } else {
          s.out.push_back(std::move(s.rx));
        }
        s.rx.clear();
        lws_callback_on_writable(wsi);
        return 0;
      }
      case LWS_CALLBACK_SERVER_WRITEABLE: {
        Session& s = self->sessions_[wsi];
        if (s.close_code != 0) {
          lws_close_reason(wsi, static_cast<lws_close_status>(s.close_code),
                           reinterpret_cast<unsigned char*>(s.close_reason.data()),
                           s.close_reason.size());
          return -1;
        }
        if (s.out.empty()) return 0;
        std::string buf(LWS_PRE, '\0');
        buf += s.out.front();
        s.out.pop_front();
        const auto n = buf.size() - LWS_PRE;
        if (lws_write(wsi, reinterpret_cast<unsigned char*>(buf.data()) + LWS_PRE, n,
                      LWS_WRITE_TEXT) < static_cast<int>(n)) {
          return -1;
        }
        if (!s.out.empty()) lws_callback_on_writable(wsi);
        return 0;
      }
      case LWS_CALLBACK_CLOSED:
        self->sessions_.erase(wsi);
        return 0;
      default:
        return 0;
    }
  }

  static inline const lws_protocols kProtocols[] = {
      {"echo", callback, 0, 0, 0, nullptr, 0},
      {nullptr, nullptr, 0, 0, 0, nullptr, 0},
  };

  lws_context* ctx_ = nullptr;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::map<lws*, Session> sessions_;  // service thread only
};

// RefusingServer answers one HTTP request with a fixed status and closes.
class RefusingServer {
 public:
  explicit RefusingServer(int status) : status_(status) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::listen(fd_, 4);
    socklen_t alen = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &alen);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string request;
      char buf[1024];
      while (request.find("\r\n\r\n") == std::string::npos) {
        const auto n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        request.append(buf, static_cast<std::size_t>(n));
      }
      const std::string body = R"({"error":"refused"})";
      const std::string response = "HTTP/1.1 " + std::to_string(status_) +
                                   " Refused\r\nContent-Type: application/json\r\n"
                                   "Content-Length: " +
                                   std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
                                   body;
      [[maybe_unused]] auto w = ::write(c, response.data(), response.size());
      ::shutdown(c, SHUT_WR);
      while (::read(c, buf, sizeof buf) > 0) {
      }
      ::close(c);
    });
  }
  ~RefusingServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  int status_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t alen = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class WsClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { WsClientPool::set_library_log_mask(0); }
  EchoServer server;
  WsClientPool pool;
};

TEST_F(WsClientTest, EchoesTextAndTimestampsIt) {
  WsConnectOptions opts;
  opts.origin = "http://example.test";
  opts.headers = {{"X-Test", "42"}};
  auto conn = pool.connect(server.url(), opts);
  ASSERT_TRUE(conn.wait_open(5s)) << conn.error();
  EXPECT_EQ(conn.next_message(5s), "hello origin=http://example.test x-test=42");
  const auto before = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  ASSERT_TRUE(conn.send_text("ping"));
  auto msg = conn.next(5s);
  ASSERT_TRUE(msg);
  EXPECT_EQ(msg->data, "ping");
  EXPECT_FALSE(msg->binary);
  EXPECT_GE(msg->received_us, before);
  EXPECT_EQ(conn.messages_received(), 2u);
}

TEST_F(WsClientTest, OmitsOriginWhenNotSet) {
  auto conn = pool.connect(server.url());
  EXPECT_EQ(conn.next_message(5s), "hello origin= x-test=");
}

TEST_F(WsClientTest, SendsQueuedBeforeOpenInOrder) {
  auto conn = pool.connect(server.url());
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(conn.send_text(std::to_string(i)));
  ASSERT_TRUE(conn.next_message(5s));  // greeting
  for (int i = 0; i < 50; ++i) EXPECT_EQ(conn.next_message(5s), std::to_string(i));
}

TEST_F(WsClientTest, ReassemblesLargeMessages) {
  auto conn = pool.connect(server.url());
  ASSERT_TRUE(conn.next_message(5s));
  std::string big(64UL * 1024, 'x');
  for (std::size_t i = 0; i < big.size(); i += 997) big[i] = static_cast<char>('a' + i % 26);
  // Oversize for the echo server's 1009 rule is 4096..10000, so 64 KiB echoes back.
  ASSERT_TRUE(conn.send_text(big));
  EXPECT_EQ(conn.next_message(5s), big);
}

TEST_F(WsClientTest, ReportsServerCloseCodeAndReason) {
  auto conn = pool.connect(server.url());
  ASSERT_TRUE(conn.wait_open(5s));
  conn.send_text("close:4001:bye now");
  ASSERT_TRUE(conn.wait_closed(5s));
  EXPECT_EQ(conn.state(), WsState::closed);
  EXPECT_EQ(conn.close_code(), 4001);
  EXPECT_EQ(conn.close_reason(), "bye now");
  EXPECT_FALSE(conn.send_text("late"));
}

TEST_F(WsClientTest, OversizedFrameGets1009) {
  auto conn = pool.connect(server.url());
  ASSERT_TRUE(conn.wait_open(5s));
  conn.send_text(std::string(5000, 'a'));
  ASSERT_TRUE(conn.wait_closed(5s));
  EXPECT_EQ(conn.close_code(), 1009);
}

TEST_F(WsClientTest, ClientCloseEndsClosed) {
  auto conn = pool.connect(server.url());
  ASSERT_TRUE(conn.wait_open(5s));
  conn.close(1000, "done");
  ASSERT_TRUE(conn.wait_closed(5s));
  EXPECT_EQ(conn.state(), WsState::closed);
  EXPECT_FALSE(conn.close_code().has_value());
}

TEST_F(WsClientTest, ConnectionRefusedFails) {
  auto conn = pool.connect("ws://127.0.0.1:" + std::to_string(closed_port()) + "/x");
  ASSERT_TRUE(conn.wait_closed(5s));
  EXPECT_EQ(conn.state(), WsState::failed);
  EXPECT_FALSE(conn.wait_open(1ms));
  EXPECT_FALSE(conn.error().empty());
  EXPECT_EQ(conn.http_status(), 0);
}

TEST_F(WsClientTest, RefusedUpgradeGivesHttpStatus) {
  for (int status : {403, 404}) {
    RefusingServer refusing(status);
    auto conn = pool.connect("ws://127.0.0.1:" + std::to_string(refusing.port()) + "/rooms/x");
    ASSERT_TRUE(conn.wait_closed(5s));
    EXPECT_EQ(conn.state(), WsState::failed);
    EXPECT_EQ(conn.http_status(), status) << conn.error();
  }
}

TEST_F(WsClientTest, BadUrlFailsAtOnce) {
  for (const char* url : {"http://127.0.0.1/", "ws://", "ws://host:99999/", "ws://h:x/"}) {
    auto conn = pool.connect(url);
    EXPECT_EQ(conn.state(), WsState::failed) << url;
    EXPECT_FALSE(conn.error().empty());
  }
}

TEST_F(WsClientTest, ManyConnectionsOnOnePool) {
  constexpr int kClients = 200;
  std::vector<WsConnection> conns;
  conns.reserve(kClients);
  for (int i = 0; i < kClients; ++i) conns.push_back(pool.connect(server.url()));
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(conns[i].wait_open(10s)) << i << ": " << conns[i].error();
    conns[i].send_text("n" + std::to_string(i));
  }
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(conns[i].next_message(10s));  // greeting
    EXPECT_EQ(conns[i].next_message(10s), "n" + std::to_string(i));
  }
  EXPECT_EQ(pool.open_connections(), static_cast<std::size_t>(kClients));
}

TEST_F(WsClientTest, CallbackDeliveryFromServiceThread) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> got;
  WsConnectOptions opts;
  opts.on_message = [&](tickcast::client::WsMessage&& m) {
    std::lock_guard lock(mu);
    got.push_back(std::move(m.data));
    cv.notify_all();
  };
  auto conn = pool.connect(server.url(), opts);
  conn.send_text("cb");
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return got.size() == 2; }));
  EXPECT_EQ(got[1], "cb");
  EXPECT_FALSE(conn.next_message(0ms));
}

TEST(WsClientPoolTest, DestructionClosesOpenConnections) {
  WsClientPool::set_library_log_mask(0);
  EchoServer server;
  std::vector<WsConnection> conns;
  {
    WsClientPool pool;
    for (int i = 0; i < 5; ++i) conns.push_back(pool.connect(server.url()));
    for (auto& c : conns) ASSERT_TRUE(c.wait_open(5s));
  }
  for (auto& c : conns) {
    EXPECT_EQ(c.state(), WsState::closed);
    EXPECT_FALSE(c.send_text("after"));
  }
}

}  // namespace
