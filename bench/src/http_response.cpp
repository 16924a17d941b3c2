#include "http_response.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace tickcast::bench {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

// The status code of "HTTP/1.x NNN[ reason]" (RFC 9112 4: exactly three digits), or 0
// for a line that is not a status line.
int parse_status(std::string_view line) {
  if (line.size() < 12 || line[8] != ' ' || (line.size() > 12 && line[12] != ' ')) return 0;
  int status = 0;
  for (const char c : line.substr(9, 3)) {
    if (c < '0' || c > '9') return 0;
    status = status * 10 + (c - '0');
  }
  return status >= 100 ? status : 0;
}

}  // namespace

HttpResponseReader::Result HttpResponseReader::fail(std::string why) {
  error_ = std::move(why);
  return Result::error;
}

HttpResponseReader::Result HttpResponseReader::feed(std::string& in, std::string& body) {
  std::size_t used = 0;
  auto line = [&](std::string_view& out) {
    const std::size_t end = in.find('\n', used);
    if (end == std::string::npos) return false;
    out = std::string_view(in).substr(used, end - used);
    if (!out.empty() && out.back() == '\r') out.remove_suffix(1);
    used = end + 1;
    return true;
  };
  Result result = Result::more;
  while (result == Result::more) {
    std::string_view text;
    switch (stage_) {
      case Stage::status_line:
        if (!line(text)) goto done;
        if (!text.starts_with("HTTP/1."))
          return fail("not an HTTP response: " + std::string(text.substr(0, 40)));
        status_ = parse_status(text);
        if (status_ == 0) return fail("bad status line: " + std::string(text.substr(0, 40)));
        keep_alive_ = !text.starts_with("HTTP/1.0");
        chunked_ = has_length_ = false;
        content_length_ = 0;
        stage_ = Stage::headers;
        break;
      case Stage::headers: {
        if (!line(text)) goto done;
        if (text.empty()) {
          if (chunked_) {
            stage_ = Stage::chunk_size;
          } else if (has_length_) {
            left_ = content_length_;
            stage_ = Stage::body_length;
          } else {
            stage_ = Stage::body_close;
          }
          break;
        }
        const std::size_t colon = text.find(':');
        if (colon == std::string_view::npos) return fail("bad header line");
        const std::string name = lower(text.substr(0, colon));
        const std::string value = lower(trim(text.substr(colon + 1)));
        if (name == "transfer-encoding" && value.find("chunked") != std::string::npos)
          chunked_ = true;
        if (name == "content-length") {
          has_length_ = true;
          std::from_chars(value.data(), value.data() + value.size(), content_length_);
        }
        if (name == "connection") keep_alive_ = value.find("close") == std::string::npos;
        break;
      }
      case Stage::body_length: {
        const std::size_t take = std::min(left_, in.size() - used);
        body.append(in, used, take);
        used += take;
        left_ -= take;
        if (left_ == 0) {
          stage_ = Stage::status_line;
          result = Result::complete;
        } else {
          goto done;
        }
        break;
      }
      case Stage::chunk_size: {
        if (!line(text)) goto done;
        std::size_t size = 0;
        auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), size, 16);
        if (err != std::errc{}) return fail("bad chunk size");
        (void)end;
        left_ = size;
        stage_ = size == 0 ? Stage::trailers : Stage::chunk_data;
        break;
      }
      case Stage::chunk_data: {
        const std::size_t take = std::min(left_, in.size() - used);
        body.append(in, used, take);
        used += take;
        left_ -= take;
        if (left_ != 0) goto done;
        stage_ = Stage::chunk_crlf;
        break;
      }
      case Stage::chunk_crlf:
        if (!line(text)) goto done;
        stage_ = Stage::chunk_size;
        break;
      case Stage::trailers:
        if (!line(text)) goto done;
        if (text.empty()) {
          stage_ = Stage::status_line;
          result = Result::complete;
        }
        break;
      case Stage::body_close:
        body.append(in, used, std::string::npos);
        used = in.size();
        goto done;
    }
  }
done:
  in.erase(0, used);
  return result;
}

}  // namespace tickcast::bench
