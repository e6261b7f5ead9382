// The tus reference server for Node (@tus/server + @tus/file-store), as the
// peer to beat: `node tus-reference.mjs PORT DIR`.
import { Server } from '@tus/server';
import { FileStore } from '@tus/file-store';

const [port, dir] = process.argv.slice(2);
const server = new Server({ path: '/files', datastore: new FileStore({ directory: dir }) });
server.listen({ host: '127.0.0.1', port: Number(port) }, () => {
  console.log(`tus reference listening on 127.0.0.1:${port}`);
});
