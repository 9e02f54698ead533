package search

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkEmbeddedIndex indexes chat-like messages in batches of 1,000 (what
// the feeder commits each second at 1,000 messages a second); ns/op is per
// message.
func BenchmarkEmbeddedIndex(b *testing.B) {
	ix := openEmbedded(b)
	ctx := context.Background()
	words := []string{"hello", "order", "refund", "parcel", "late", "thanks", "please", "account", "password", "delivery",
		"tomorrow", "invoice", "plan", "price", "where", "my", "is", "the", "a", "for"}
	docs := make([]Doc, 0, 1000)
	now := time.Now()
	b.ResetTimer()
	for i := range b.N {
		text := ""
		for j := range 12 {
			text += words[(i*7+j*3)%len(words)] + " "
		}
		docs = append(docs, Doc{Tenant: "t1", ConversationID: fmt.Sprintf("c%06d", i%10000), Seq: int64(i), Text: text + fmt.Sprint(i), CreatedAt: now.Add(time.Duration(i) * time.Millisecond)})
		if len(docs) == cap(docs) || i == b.N-1 {
			if err := ix.Index(ctx, docs, now); err != nil {
				b.Fatal(err)
			}
			docs = docs[:0]
		}
	}
}
