#pragma once
// An incremental HTTP/1.1 response reader for the bench's own clients: status line and
// headers, then a body with content-length, chunked transfer coding, or until close.

#include <cstddef>
#include <string>
#include <string_view>

namespace tickcast::bench {

/// HttpResponseReader turns bytes from a socket into a status, body bytes and the end
/// of each response, one response after another on a keep-alive connection.
/// Threads: one owner.
class HttpResponseReader {
 public:
  /// Result is what feed() found.
  enum class Result { more, complete, error };

  /// feed consumes bytes from `in` (removing what it used) and appends body bytes to
  /// `body`. `complete` when a whole response has been read (the rest stays in `in`).
  Result feed(std::string& in, std::string& body);
  /// status is the HTTP status of the current response, 0 before its status line.
  int status() const { return status_; }
  /// keep_alive tells whether the connection stays open after this response.
  bool keep_alive() const { return keep_alive_; }
  /// error describes why feed() returned error.
  const std::string& error() const { return error_; }

 private:
  enum class Stage {
    status_line,
    headers,
    body_length,
    chunk_size,
    chunk_data,
    chunk_crlf,
    trailers,
    body_close
  };
  Result fail(std::string why);

  Stage stage_ = Stage::status_line;
  int status_ = 0;
  bool keep_alive_ = true;
  bool chunked_ = false;
  std::size_t content_length_ = 0;
  bool has_length_ = false;
  std::size_t left_ = 0;
  std::string error_;
};

}  // namespace tickcast::bench
