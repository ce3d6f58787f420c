/**
 * A conversation's messages as a tree: each message follows its `parentId`; an edit or a
 * regenerated reply is a sibling of the message it replaces, so every path from the root to a
 * leaf is one version of the conversation (a branch). Ids are ULIDs, so id order is writing order.
 */
export interface TreeNode {
  messageId: string;
  parentId?: string;
}

export class MessageTree {
  private readonly byId = new Map<string, TreeNode>();
  private readonly children = new Map<string | undefined, string[]>();

  /** `nodes` in writing order (ascending ids), as the messages table returns them. */
  constructor(readonly nodes: readonly TreeNode[]) {
    for (const node of nodes) {
      // A parent is written before its children; one not (yet) seen makes the message a root.
      const parent = node.parentId !== undefined && this.byId.has(node.parentId) ? node.parentId : undefined;
      this.byId.set(node.messageId, { messageId: node.messageId, parentId: parent });
      const list = this.children.get(parent) ?? [];
      list.push(node.messageId);
      this.children.set(parent, list);
    }
  }

  has(messageId: string): boolean {
    return this.byId.has(messageId);
  }

  /** The newest message: where a conversation without a chosen branch goes on. */
  get newest(): string | undefined {
    return this.nodes.at(-1)?.messageId;
  }

  childrenOf(messageId: string): readonly string[] {
    return this.children.get(messageId) ?? [];
  }

  /** The message and its siblings (the same parent), in writing order. */
  siblingsOf(messageId: string): readonly string[] {
    return this.has(messageId) ? (this.children.get(this.byId.get(messageId)!.parentId) ?? []) : [];
  }

  /** The ids from the root to `leafId`, oldest first (empty for an id not in the tree). */
  pathTo(leafId: string): string[] {
    const path: string[] = [];
    const seen = new Set<string>();
    for (let id: string | undefined = leafId; id && this.byId.has(id) && !seen.has(id); id = this.byId.get(id)!.parentId) {
      seen.add(id);
      path.push(id);
    }
    return path.reverse();
  }

  /** The leaf reached from `messageId` by always taking the newest child. */
  newestLeafUnder(messageId: string): string {
    let id = messageId;
    for (let next = this.childrenOf(id).at(-1); next; next = this.childrenOf(id).at(-1)) id = next;
    return id;
  }
}
