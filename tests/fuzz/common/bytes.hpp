#pragma once
// The fuzz inputs are little-endian records read front to back. The reader
// never fails: past the end it yields zeros, so every byte string is a valid
// input and the fuzzer's mutations stay meaningful. The writer builds the
// same records for the seed generator.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace xenvhost::fuzz {

class ByteReader {
public:
    ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

    bool empty() const { return pos_ >= size_; }
    size_t remaining() const { return size_ - pos_; }

    template <typename T>
    T get() {
        static_assert(std::is_integral_v<T>);
        uint8_t raw[sizeof(T)] = {};
        const size_t n = std::min(sizeof(T), remaining());
        if (n) std::memcpy(raw, data_ + pos_, n);
        pos_ += n;
        T v;
        std::memcpy(&v, raw, sizeof v);
        return v;
    }
    uint8_t u8() { return get<uint8_t>(); }
    uint16_t u16() { return get<uint16_t>(); }
    uint32_t u32() { return get<uint32_t>(); }
    uint64_t u64() { return get<uint64_t>(); }
    bool flag() { return u8() & 1; }

    // Up to `n` bytes (fewer at the end of the input).
    std::span<const uint8_t> bytes(size_t n) {
        n = std::min(n, remaining());
        std::span<const uint8_t> s(data_ + pos_, n);
        pos_ += n;
        return s;
    }
    // A u16 length, then that many bytes (at most `max`).
    std::span<const uint8_t> blob(size_t max) { return bytes(std::min<size_t>(u16(), max)); }
    std::string str8() {
        auto b = bytes(u8());
        return std::string(b.begin(), b.end());
    }

private:
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
};

class ByteWriter {
public:
    template <typename T>
    ByteWriter& put(T v) {
        static_assert(std::is_integral_v<T>);
        uint8_t raw[sizeof(T)];
        std::memcpy(raw, &v, sizeof v);
        out_.insert(out_.end(), raw, raw + sizeof raw);
        return *this;
    }
    ByteWriter& u8(uint8_t v) { return put(v); }
    ByteWriter& u16(uint16_t v) { return put(v); }
    ByteWriter& u32(uint32_t v) { return put(v); }
    ByteWriter& u64(uint64_t v) { return put(v); }
    ByteWriter& bytes(std::span<const uint8_t> b) {
        out_.insert(out_.end(), b.begin(), b.end());
        return *this;
    }
    template <typename T>
    ByteWriter& object(const T& v) {
        static_assert(std::is_trivially_copyable_v<T>);
        return bytes({reinterpret_cast<const uint8_t*>(&v), sizeof v});
    }
    ByteWriter& blob(std::span<const uint8_t> b) {
        u16(static_cast<uint16_t>(b.size()));
        return bytes(b);
    }
    ByteWriter& str8(std::string_view s) {
        u8(static_cast<uint8_t>(s.size()));
        return bytes({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
    }
    const std::vector<uint8_t>& data() const { return out_; }

private:
    std::vector<uint8_t> out_;
};

}  // namespace xenvhost::fuzz
