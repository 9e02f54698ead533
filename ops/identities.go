package ops

import (
	"context"
	"encoding/json"

	"github.com/nudgehq/nudge/chat"
)

// fillIdentities gives the conversations an earlier release stored their
// identity fingerprint, read from their sealed metadata, a page at a time,
// so that erasing a user finds their older chats too.
func (s *Service) fillIdentities(ctx context.Context) error {
	const page = 500
	for {
		cs, err := s.Store.UnreadIdentities(ctx, page)
		if err != nil || len(cs) == 0 {
			return err
		}
		fps := make(map[string]string, len(cs))
		for _, c := range cs {
			var meta chat.Meta
			json.Unmarshal(c.Metadata, &meta) // unreadable metadata has no identity
			fp, err := chat.IdentityFingerprint(ctx, s.Ring, c.TenantID, meta.Identity)
			if err != nil {
				return err
			}
			fps[c.ID] = fp
		}
		if err := s.Store.SetIdentities(ctx, fps); err != nil {
			return err
		}
		if len(cs) < page {
			return nil
		}
	}
}
