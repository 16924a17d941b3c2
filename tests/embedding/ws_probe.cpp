// ws_probe: a tiny WebSocket client for the embedding tests. Prints each message it gets,
// one per line; with --send, sends TEXT once the first message (the join answer) is in.
//   ws_probe URL [--send TEXT] [--count N] [--timeout SECONDS]
// Exits 0 once N messages came (default 1), 1 on failure or timeout.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tickcast/client/ws_client.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: ws_probe URL [--send TEXT] [--count N] [--timeout S]\n");
    return 2;
  }
  std::string send;
  int count = 1;
  int timeout_s = 10;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--send") send = argv[i + 1];
    if (flag == "--count") count = std::atoi(argv[i + 1]);
    if (flag == "--timeout") timeout_s = std::atoi(argv[i + 1]);
  }
  tickcast::client::WsClientPool::set_library_log_mask(1);
  tickcast::client::WsClientPool pool;
  auto connection = pool.connect(argv[1]);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  for (int received = 0; received < count;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto message = left.count() > 0 ? connection.next_message(left) : std::nullopt;
    if (!message) {
      std::fprintf(stderr, "ws_probe: %d of %d messages (%s)\n", received, count,
                   connection.error().c_str());
      return 1;
    }
    std::printf("%s\n", message->c_str());
    std::fflush(stdout);
    if (++received == 1 && !send.empty()) connection.send_text(send);
  }
  return 0;
}
