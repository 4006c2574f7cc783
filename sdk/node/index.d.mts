// ESM type declarations: import Mags, { Mags as M, MagsError } from 'mags-sdk'
import Mags = require('./index.js');
export = Mags;
