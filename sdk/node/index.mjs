// ESM entry: import Mags, { Mags, MagsError } from 'mags-sdk'
import Mags from './index.js';

export const { MagsError, LogStream, ExecStream, DEFAULT_API_URL } = Mags;
export { Mags };
export default Mags;
