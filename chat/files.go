package chat

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gabriel-vasile/mimetype"

	"github.com/nudgehq/nudge/store"
)

// MaxFile is the largest file a conversation takes, in bytes.
const MaxFile = 10 << 20

// FileTypes are the types a file may sniff as, with the name extensions
// that fit each (the first is given to a name that has none of them).
// Anything else (executables, HTML, SVG with its scripts…) is refused
// whatever its name says.
var FileTypes = map[string][]string{
	"image/png": {".png"}, "image/jpeg": {".jpg", ".jpeg", ".jfif"}, "image/gif": {".gif"}, "image/webp": {".webp"},
	"application/pdf": {".pdf"}, "text/plain": {".txt", ".text", ".log", ".md"}, "text/csv": {".csv"},
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   {".docx"},
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         {".xlsx"},
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": {".pptx"},
}

// fitName makes a file's name end with an extension of its sniffed type, so
// that whoever opens the download gets what it is: a text file sent as
// page.html is kept as page.html.txt, not opened as a web page.
func fitName(name, typ string) string {
	exts := FileTypes[typ]
	if len(exts) == 0 || slices.Contains(exts, strings.ToLower(path.Ext(name))) {
		return name
	}
	return name + exts[0]
}

// FileRef is what a file message carries.
type FileRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
	Size int64  `json:"size"`
}

func fileAD(conversation, id string) []byte { return []byte(conversation + "\x00file\x00" + id) }

func fileNameAD(conversation, id string) []byte {
	return []byte(conversation + "\x00file-name\x00" + id)
}

// sealedPrefix marks a file name stored sealed (base64 after it); names
// stored by an earlier release are in clear.
const sealedPrefix = "sealed:"

// openName gives a stored file's name in clear.
func (e *Engine) openName(ctx context.Context, f *store.File) error {
	rest, ok := strings.CutPrefix(f.Name, sealedPrefix)
	if !ok {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(rest)
	if err == nil {
		b, err = e.log.ring.Open(ctx, f.TenantID, b, fileNameAD(f.ConversationID, f.ID))
	}
	if err != nil {
		return fmt.Errorf("chat: open the name of file %s: %w", f.ID, err)
	}
	f.Name = string(b)
	return nil
}

// CheckUpload says whether a sender may upload size bytes to a conversation
// now; it runs before any of the file is received.
func (e *Engine) CheckUpload(ctx context.Context, tenant, conversation string, who Sender, a *Agent, size int64) error {
	if size < 1 || size > MaxFile {
		return fmt.Errorf("%w: a file is 1 byte to %d MiB", ErrInvalid, MaxFile>>20)
	}
	t, err := e.lock(ctx, tenant)
	if err != nil {
		return err
	}
	defer e.unlock(t)
	if a != nil {
		_, role, err := e.agentConv(t, *a, conversation)
		if err != nil {
			return err
		}
		if role == "" || role == RoleMonitor {
			return fmt.Errorf("%w: join the chat first", ErrForbidden)
		}
		return nil
	}
	cv := t.convs[conversation]
	if cv == nil || cv.c.TenantID != tenant || cv.c.Status == StatusClosed || cv.c.Status == StatusOffline {
		return fmt.Errorf("%w: the conversation takes no files now", ErrState)
	}
	return nil
}

// StoreFile sniffs, checks, seals and stores a received file.
func (e *Engine) StoreFile(ctx context.Context, tenant, conversation string, who Sender, name string, data []byte) (FileRef, error) {
	if len(data) < 1 || len(data) > MaxFile {
		return FileRef{}, fmt.Errorf("%w: a file is 1 byte to %d MiB", ErrInvalid, MaxFile>>20)
	}
	typ, _, _ := strings.Cut(mimetype.Detect(data).String(), ";")
	if FileTypes[typ] == nil {
		return FileRef{}, fmt.Errorf("%w: files of type %s are not accepted", ErrInvalid, typ)
	}
	if err := e.log.ring.Ensure(ctx, tenant); err != nil {
		return FileRef{}, err
	}
	ref := FileRef{ID: store.NewID(), Name: fitName(cleanName(name), typ), Type: typ, Size: int64(len(data))}
	sealed, err := e.log.ring.Seal(ctx, tenant, data, fileAD(conversation, ref.ID))
	if err != nil {
		return FileRef{}, err
	}
	// The name can say as much as the file (a customer's name, an invoice
	// number): it is sealed as the body is.
	sealedName, err := e.log.ring.Seal(ctx, tenant, []byte(ref.Name), fileNameAD(conversation, ref.ID))
	if err != nil {
		return FileRef{}, err
	}
	// A conversation is created through the log, and its row may still be on
	// its way to the disk when a visitor's first act is a file (the upload
	// right after start_ok): the file waits for it. Uploads are rare enough
	// that waiting for the log's queue costs nothing that shows.
	e.log.Flush()
	err = e.st.AddFile(ctx, store.File{ID: ref.ID, TenantID: tenant, ConversationID: conversation, UploaderKind: who.Kind,
		UploaderID: who.ID, Name: sealedPrefix + base64.StdEncoding.EncodeToString(sealedName), Type: ref.Type, Size: ref.Size, Body: sealed, CreatedAt: e.now()})
	if err != nil {
		return FileRef{}, err
	}
	return ref, nil
}

// cleanName keeps a file name printable and without a path.
func cleanName(name string) string {
	if !utf8.ValidString(name) {
		name = ""
	}
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		// Bidirectional controls make "invoice\u202Efdp.exe" read as a PDF.
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '"' {
			return -1
		}
		return r
	}, name)
	for len(name) > 200 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" || name == "." || name == "/" {
		return "file"
	}
	return name
}

// fileMessage fills a file message from the stored file, which must belong
// to the conversation: the sender names the file by id only.
func (e *Engine) fileMessage(ctx context.Context, tenant, conversation string, m *Message) error {
	var ask struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(m.Payload, &ask); err != nil || ask.ID == "" {
		return fmt.Errorf("%w: a file message names an uploaded file's id", ErrInvalid)
	}
	f, err := e.st.File(ctx, tenant, ask.ID)
	if err != nil || f.ConversationID != conversation {
		return fmt.Errorf("%w: no such file in this conversation", ErrInvalid)
	}
	if err := e.openName(ctx, &f); err != nil {
		return err
	}
	m.Payload, _ = json.Marshal(FileRef{ID: f.ID, Name: f.Name, Type: f.Type, Size: f.Size})
	m.Text = f.Name
	return nil
}

// OpenFile returns a file and its content for a visitor of its conversation
// (v set) or an agent allowed to read it (a set).
func (e *Engine) OpenFile(ctx context.Context, tenant, id string, v *Visitor, a *Agent) (store.File, []byte, error) {
	f, err := e.st.File(ctx, tenant, id)
	if err != nil {
		return store.File{}, nil, ErrNotFound
	}
	switch {
	case v != nil:
		if v.Conversation != f.ConversationID {
			return store.File{}, nil, ErrNotFound
		}
	case a != nil:
		if err := e.mayRead(ctx, *a, f.ConversationID); err != nil {
			return store.File{}, nil, ErrNotFound
		}
	default:
		return store.File{}, nil, ErrNotFound
	}
	data, err := e.log.ring.Open(ctx, tenant, f.Body, fileAD(f.ConversationID, f.ID))
	if err != nil {
		return store.File{}, nil, fmt.Errorf("chat: open file %s: %w", id, err)
	}
	if err := e.openName(ctx, &f); err != nil {
		return store.File{}, nil, err
	}
	return f, data, nil
}
