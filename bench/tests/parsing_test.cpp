// The bench's parsers: event fields, long-poll bodies, HTTP responses, WebSocket and tcp
// frames, and the sequence checks of the Recorder.
#include <gtest/gtest.h>

#include <cstdlib>

#include "event_scan.h"
#include "frame.h"
#include "http_response.h"
#include "recorder.h"
#include "ws_frame.h"

namespace tickcast::bench {
namespace {

const std::string kTick =
    R"({"event":"timer","success":true,"data":"00:24:59","error":null,"room":"focus","seq":42,"reason":"tick",)"
    R"("state":{"phase":"work","running":true,"remaining_ms":1499000,"duration_ms":1500000,"completed_work":0},)"
    R"("server_time_us":1764000000000000})";

std::string event(std::uint64_t seq, const char* reason = "tick", bool running = true) {
  return R"({"seq":)" + std::to_string(seq) + R"(,"reason":")" + reason +
         R"(","state":{"running":)" + (running ? "true" : "false") + R"(},"server_time_us":1})";
}

TEST(EventScan, ReadsTheFields) {
  auto f = scan_event(kTick);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->seq, 42u);
  EXPECT_EQ(f->server_time_us, 1764000000000000);
  EXPECT_TRUE(f->tick);
  EXPECT_FALSE(f->snapshot);
  EXPECT_EQ(f->running, true);
}

// A room named like a key ("seq") is a value, not the key (found by the fuzzer).
TEST(EventScan, ARoomNamedLikeAKeyIsNotTheKey) {
  auto f = scan_event(
      R"({"event":"timer","room":"seq","seq":7,"reason":"tick","state":{"running":true},)"
      R"("server_time_us":-5})");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->seq, 7u);
  EXPECT_EQ(f->server_time_us, -5);
}

TEST(EventScan, ErrorsAreNotEvents) {
  EXPECT_FALSE(scan_event(R"({"event":"timer","success":false,"error":"Timer already started"})"));
}

TEST(EventScan, SplitsLongPollBodies) {
  const std::string body = R"({"events":[)" + kTick + "," + kTick + R"(],"next":43})";
  auto poll = scan_poll_body(body);
  ASSERT_TRUE(poll);
  ASSERT_EQ(poll->events.size(), 2u);
  EXPECT_EQ(poll->events[0], kTick);
  EXPECT_EQ(poll->next, 43u);
  auto empty = scan_poll_body(R"({"events":[],"next":7})");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->events.empty());
  EXPECT_EQ(empty->next, 7u);
  EXPECT_FALSE(scan_poll_body(R"({"error":"x"})"));
}

TEST(HttpResponse, ChunkedInPieces) {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\ncontent-type: text/event-stream\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  HttpResponseReader reader;
  std::string in, body;
  HttpResponseReader::Result r = HttpResponseReader::Result::more;
  for (char c : wire) {
    in.push_back(c);
    r = reader.feed(in, body);
    if (r != HttpResponseReader::Result::more) break;
  }
  EXPECT_EQ(r, HttpResponseReader::Result::complete);
  EXPECT_EQ(reader.status(), 200);
  EXPECT_EQ(body, "hello world");
}

TEST(HttpResponse, ContentLengthThenNextResponse) {
  std::string in =
      "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 200 OK\r\nconnection: "
      "close\r\n"
      "content-length: 0\r\n\r\n";
  std::string body;
  HttpResponseReader reader;
  EXPECT_EQ(reader.feed(in, body), HttpResponseReader::Result::complete);
  EXPECT_EQ(reader.status(), 404);
  EXPECT_EQ(body, "{}");
  body.clear();
  EXPECT_EQ(reader.feed(in, body), HttpResponseReader::Result::complete);
  EXPECT_EQ(reader.status(), 200);
  EXPECT_FALSE(reader.keep_alive());
}

// Found by the bench_http_response fuzzer (fuzz/corpus/bench_http_response/crash-*): the
// status code was read with from_chars, so "-5" or nothing at all passed as a status.
TEST(HttpResponse, StatusIsThreeDigits) {
  for (const char* line : {"HTTP/1.1 -5 OK", "HTTP/1.1 ", "HTTP/1.1 20 OK", "HTTP/1.1 2000 OK",
                           "HTTP/1.1 +20 OK", "HTTP/1.1 099 x", "HTTP/1.1  200 OK"}) {
    HttpResponseReader reader;
    std::string in = std::string(line) + "\r\ncontent-length: 0\r\n\r\n", body;
    EXPECT_EQ(reader.feed(in, body), HttpResponseReader::Result::error) << line;
  }
  for (const char* line : {"HTTP/1.1 204 No Content", "HTTP/1.0 503", "HTTP/1.1 200 "}) {
    HttpResponseReader reader;
    std::string in = std::string(line) + "\r\ncontent-length: 0\r\n\r\n", body;
    EXPECT_EQ(reader.feed(in, body), HttpResponseReader::Result::complete) << line;
    EXPECT_EQ(reader.status(), std::atoi(line + 9)) << line;
  }
}

TEST(Frame, RoundTripAndPartial) {
  const std::string wire = encode_frame("abc") + encode_frame("");
  auto first = next_frame(wire);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->payload, "abc");
  auto second = next_frame(std::string_view(wire).substr(7));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->payload, "");
  EXPECT_FALSE(next_frame(std::string_view(wire).substr(0, 5)));
  EXPECT_TRUE(next_frame(std::string("\xff\xff\xff\xff", 4))->too_large);
}

TEST(WsFrame, ShortExtendedAndPartial) {
  const std::string small = std::string("\x81\x03", 2) + "abc";
  auto f = read_ws_frame(small);
  ASSERT_EQ(f.status, WsFrame::Status::frame);
  EXPECT_TRUE(f.fin);
  EXPECT_EQ(f.opcode, 1);
  EXPECT_EQ(f.payload, "abc");
  EXPECT_EQ(f.size, 5u);
  EXPECT_EQ(read_ws_frame(small.substr(0, 4)).status, WsFrame::Status::more);

  const std::string medium = std::string("\x02\x7e\x01\x00", 4) + std::string(256, 'x');
  f = read_ws_frame(medium);
  ASSERT_EQ(f.status, WsFrame::Status::frame);
  EXPECT_FALSE(f.fin);
  EXPECT_EQ(f.opcode, 2);
  EXPECT_EQ(f.payload.size(), 256u);
}

TEST(WsFrame, MaskedOrHugeIsAnError) {
  EXPECT_EQ(read_ws_frame(std::string("\x81\x83", 2)).status, WsFrame::Status::error);
  const std::string huge("\x81\x7f\xff\xff\xff\xff\xff\xff\xff\xff", 10);
  EXPECT_EQ(read_ws_frame(huge).status, WsFrame::Status::error);
}

TEST(Recorder, CountsLostDuplicatedAndOutOfOrder) {
  Recorder r(1);
  r.on_message(0, event(10, "snapshot"), 5);
  r.on_message(0, event(11), 5);
  r.on_message(0, event(13), 5);  // 12 missing
  r.on_message(0, event(12), 5);  // arrives late
  r.on_message(0, event(13), 5);  // again
  r.on_message(0, event(16), 5);  // 14, 15 lost
  const auto t = r.totals();
  EXPECT_EQ(t.ready, 1u);
  EXPECT_EQ(t.lost, 2u);
  EXPECT_EQ(t.out_of_order, 1u);
  EXPECT_EQ(t.duplicated, 1u);
  EXPECT_EQ(t.events, 5u);
}

TEST(Recorder, RunningStateAndLatencyWindow) {
  Recorder r(2);
  r.on_message(0, event(1, "snapshot", false), 100);
  r.on_message(1, event(1, "snapshot", false), 100);
  EXPECT_TRUE(r.running_reached(false));
  r.set_measuring(true);
  r.on_message(0, event(2, "start", true), 200);
  EXPECT_FALSE(r.running_reached(true));
  r.on_message(1, event(2, "start", true), 250);
  EXPECT_EQ(r.running_reached(true), 250);
  r.on_message(0, event(3, "tick", true), 1001);
  r.set_measuring(false);
  r.on_message(1, event(3, "tick", true), 5001);
  const auto t = r.totals();
  EXPECT_EQ(t.latency.count(), 1u);
  EXPECT_EQ(t.latency.max(), 1000);
  EXPECT_EQ(t.measured_events, 3u);
}

}  // namespace
}  // namespace tickcast::bench
