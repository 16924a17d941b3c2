#include "histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <stdexcept>

namespace tickcast::bench {

namespace {
constexpr int kMaxValueBits = 40;  // about 12.7 days in microseconds
constexpr std::int64_t kMaxValue = (std::int64_t{1} << kMaxValueBits) - 1;
}  // namespace

// Layout: values below 2^sub_bits map one to one onto the first 2^sub_bits buckets.
// Above, a value with its highest bit at position b (b >= sub_bits) lands in range
// r = b - sub_bits + 1, whose 2^sub_bits sub-buckets are each 2^(r-1)... wide. Each range
// after the first holds only its upper half (the lower half is the previous range), so
// a range has 2^(sub_bits-1) buckets beyond the first one.
Histogram::Histogram(int sub_bucket_bits) : sub_bits_(sub_bucket_bits) {
  if (sub_bits_ < 1 || sub_bits_ > 12) throw std::invalid_argument("sub_bucket_bits must be 1..12");
  const std::size_t half = std::size_t{1} << (sub_bits_ - 1);
  const int range_count = kMaxValueBits - sub_bits_ + 1;  // 1 <= sub_bits_ <= 12
  const auto ranges = static_cast<std::size_t>(range_count);
  counts_.assign((std::size_t{1} << sub_bits_) + ranges * half, 0);
}

std::size_t Histogram::index_of(std::int64_t value) const {
  const auto v = static_cast<std::uint64_t>(std::clamp<std::int64_t>(value, 0, kMaxValue));
  const std::uint64_t full = std::uint64_t{1} << sub_bits_;
  if (v < full) return static_cast<std::size_t>(v);
  const int top = std::bit_width(v) - 1;  // >= sub_bits
  const int shift = top - sub_bits_ + 1;  // bucket width is 2^shift
  const std::uint64_t sub = v >> shift;   // in [2^(sub_bits-1), 2^sub_bits)
  const std::uint64_t half = full >> 1;
  return static_cast<std::size_t>(full + static_cast<std::uint64_t>(shift - 1) * half +
                                  (sub - half));
}

std::int64_t Histogram::highest_equivalent(std::size_t index) const {
  const std::size_t full = std::size_t{1} << sub_bits_;
  if (index < full) return static_cast<std::int64_t>(index);
  const std::size_t half = full >> 1;
  const std::size_t shift = (index - full) / half + 1;
  const std::size_t sub = (index - full) % half + half;
  const std::int64_t low = static_cast<std::int64_t>(sub) << shift;
  return low + (std::int64_t{1} << shift) - 1;
}

void Histogram::record(std::int64_t value, std::uint64_t count) {
  if (count == 0) return;
  const std::int64_t v = std::clamp<std::int64_t>(value, 0, kMaxValue);
  counts_[index_of(v)] += count;
  if (count_ == 0 || v < min_) min_ = v;
  if (count_ == 0 || v > max_) max_ = v;
  count_ += count;
  sum_ += static_cast<long double>(v) * static_cast<long double>(count);
}

void Histogram::merge(const Histogram& other) {
  if (other.sub_bits_ != sub_bits_) throw std::invalid_argument("histograms differ in precision");
  if (other.count_ == 0) return;
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  min_ = count_ ? std::min(min_, other.min_) : other.min_;
  max_ = count_ ? std::max(max_, other.max_) : other.max_;
  count_ += other.count_;
  sum_ += other.sum_;
}

void Histogram::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  min_ = max_ = 0;
  sum_ = 0;
}

std::int64_t Histogram::percentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  if (p == 0.0) return min_;
  // The rank of the value at p: the smallest rank whose share of the count reaches p.
  auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(highest_equivalent(i), min_, max_);
  }
  return max_;
}

}  // namespace tickcast::bench
