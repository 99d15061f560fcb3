// Package codec turns task arguments, results and put values into bytes and
// back. Common scalar types, strings and byte slices take a compact tagged
// binary form (the hot path of small tasks); everything else is JSON, so
// argument and result types must be JSON-encodable (exported fields).
package codec

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
)

const (
	tagJSON byte = iota
	tagInt
	tagFloat
	tagString
	tagBytes
	tagBool
	tagNil
)

// Encode serializes v.
func Encode(v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return []byte{tagNil}, nil
	case int:
		return binary.AppendVarint([]byte{tagInt}, int64(x)), nil
	case int64:
		return binary.AppendVarint([]byte{tagInt}, x), nil
	case int32:
		return binary.AppendVarint([]byte{tagInt}, int64(x)), nil
	case float64:
		return binary.LittleEndian.AppendUint64([]byte{tagFloat}, math.Float64bits(x)), nil
	case string:
		b := make([]byte, 1+len(x))
		b[0] = tagString
		copy(b[1:], x)
		return b, nil
	case []byte:
		b := make([]byte, 1+len(x))
		b[0] = tagBytes
		copy(b[1:], x)
		return b, nil
	case bool:
		if x {
			return []byte{tagBool, 1}, nil
		}
		return []byte{tagBool, 0}, nil
	}
	j, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return append([]byte{tagJSON}, j...), nil
}

// EncodedSize is the length of v's encoding when EncodeTo can write it in
// place (strings and byte slices, the values large puts carry); ok is false
// for other values.
func EncodedSize(v any) (n int, ok bool) {
	switch x := v.(type) {
	case string:
		return 1 + len(x), true
	case []byte:
		return 1 + len(x), true
	}
	return 0, false
}

// EncodeTo writes v's encoding into dst, which is EncodedSize(v) long.
func EncodeTo(dst []byte, v any) {
	switch x := v.(type) {
	case string:
		dst[0] = tagString
		copy(dst[1:], x)
	case []byte:
		dst[0] = tagBytes
		copy(dst[1:], x)
	}
}

// Decode fills the value ptr points at.
func Decode(b []byte, ptr any) error {
	if len(b) == 0 {
		return fmt.Errorf("decode into %T: empty value", ptr)
	}
	tag, body := b[0], b[1:]
	switch p := ptr.(type) {
	case *int:
		if tag == tagInt {
			v, err := varint(body)
			if err != nil {
				return fmt.Errorf("decode into %T: %w", ptr, err)
			}
			*p = int(v)
			return nil
		}
	case *int64:
		if tag == tagInt {
			v, err := varint(body)
			if err != nil {
				return fmt.Errorf("decode into %T: %w", ptr, err)
			}
			*p = v
			return nil
		}
	case *int32:
		if tag == tagInt {
			v, err := varint(body)
			if err != nil {
				return fmt.Errorf("decode into %T: %w", ptr, err)
			}
			*p = int32(v)
			return nil
		}
	case *float64:
		if tag == tagFloat && len(body) == 8 {
			*p = math.Float64frombits(binary.LittleEndian.Uint64(body))
			return nil
		}
	case *string:
		if tag == tagString {
			*p = string(body)
			return nil
		}
	case *[]byte:
		if tag == tagBytes {
			*p = body
			return nil
		}
	case *bool:
		if tag == tagBool && len(body) == 1 {
			*p = body[0] == 1
			return nil
		}
	case *any:
		return decodeAny(tag, body, p)
	}
	switch tag {
	case tagJSON:
		if err := json.Unmarshal(body, ptr); err != nil {
			return fmt.Errorf("decode into %T: %w", ptr, err)
		}
		return nil
	case tagNil:
		rv := reflect.ValueOf(ptr)
		if rv.Kind() == reflect.Pointer && !rv.IsNil() {
			rv.Elem().SetZero()
		}
		return nil
	}
	// Scalars into other types (named types, widening): go through any + JSON.
	var v any
	if err := decodeAny(tag, body, &v); err != nil {
		return err
	}
	j, _ := json.Marshal(v)
	if err := json.Unmarshal(j, ptr); err != nil {
		return fmt.Errorf("decode into %T: %w", ptr, err)
	}
	return nil
}

// varint reads a tagInt body: exactly one varint, as Encode writes it.
func varint(body []byte) (int64, error) {
	v, n := binary.Varint(body)
	if n <= 0 || n != len(body) {
		return 0, fmt.Errorf("malformed int value (%d bytes)", len(body))
	}
	return v, nil
}

// decodeAny decodes a value of any tag. A scalar whose body is not what
// Encode writes (a short float, an empty bool) is an error, not a panic:
// the bytes may come from another process.
func decodeAny(tag byte, body []byte, p *any) error {
	switch tag {
	case tagInt:
		v, err := varint(body)
		if err != nil {
			return err
		}
		*p = int(v)
	case tagFloat:
		if len(body) != 8 {
			return fmt.Errorf("malformed float value (%d bytes)", len(body))
		}
		*p = math.Float64frombits(binary.LittleEndian.Uint64(body))
	case tagString:
		*p = string(body)
	case tagBytes:
		*p = body
	case tagBool:
		if len(body) != 1 {
			return fmt.Errorf("malformed bool value (%d bytes)", len(body))
		}
		*p = body[0] == 1
	case tagNil:
		*p = nil
	default:
		return json.Unmarshal(body, p)
	}
	return nil
}

// DecodeValue decodes into a new value of type t.
func DecodeValue(b []byte, t reflect.Type) (reflect.Value, error) {
	ptr := reflect.New(t)
	if err := Decode(b, ptr.Interface()); err != nil {
		return reflect.Value{}, err
	}
	return ptr.Elem(), nil
}
