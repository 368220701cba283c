package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/fxamacker/cbor/v2"
)

// MaxFrame bounds one frame so a confused or hostile peer cannot make the
// other side allocate without limit. File reads are chunked below it.
const MaxFrame = 16 << 20

// ErrFrameTooLarge is returned for a frame above MaxFrame.
var ErrFrameTooLarge = errors.New("protocol: frame larger than 16 MiB")

// The modes are built once; their options are constants, so an error here
// would be a programming mistake, reported by every Marshal/Unmarshal.
var (
	encMode, encErr = cbor.EncOptions{Sort: cbor.SortNone}.EncMode()
	decMode, decErr = cbor.DecOptions{MaxArrayElements: 1 << 20, MaxMapPairs: 1 << 20}.DecMode()
)

// Marshal encodes v as the CBOR body of a frame.
func Marshal(v any) ([]byte, error) {
	if encErr != nil {
		return nil, fmt.Errorf("protocol: cbor encoder: %w", encErr)
	}
	return encMode.Marshal(v)
}

// Unmarshal decodes a frame body into v.
func Unmarshal(b []byte, v any) error {
	if decErr != nil {
		return fmt.Errorf("protocol: cbor decoder: %w", decErr)
	}
	return decMode.Unmarshal(b, v)
}

// WriteFrame writes v as one frame. It is not safe for concurrent use on the
// same writer.
func WriteFrame(w io.Writer, v any) error {
	body, err := Marshal(v)
	if err != nil {
		return fmt.Errorf("protocol: encoding %T: %w", v, err)
	}
	return WriteRaw(w, body)
}

// WriteRaw writes an already encoded body as one frame.
func WriteRaw(w io.Writer, body []byte) error {
	if len(body) > MaxFrame {
		return ErrFrameTooLarge
	}
	buf := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(buf, uint32(len(body)))
	copy(buf[4:], body)
	_, err := w.Write(buf)
	return err
}

// ReadRaw reads one frame body. It reads exactly the frame, never ahead,
// so the bytes after a header frame stay on the stream.
func ReadRaw(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxFrame {
		return nil, ErrFrameTooLarge
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return body, nil
}

// ReadFrame reads one frame into v.
func ReadFrame(r io.Reader, v any) error {
	body, err := ReadRaw(r)
	if err != nil {
		return err
	}
	if err := Unmarshal(body, v); err != nil {
		return fmt.Errorf("protocol: decoding %T: %w", v, err)
	}
	return nil
}
